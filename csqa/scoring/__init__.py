"""Scorecard: turn a conversation's rule hits into findings with points and a 0–100 score."""

from csqa.scoring.scorecard import Scorecard, ledger, score_conversation

__all__ = ["Scorecard", "ledger", "score_conversation"]
