"""Scorecard: turn a conversation's rule hits into findings with points and a 0–100 score."""

from csqa.scoring.scorecard import ledger_of, score_conversation, score_hits

__all__ = ["ledger_of", "score_conversation", "score_hits"]
