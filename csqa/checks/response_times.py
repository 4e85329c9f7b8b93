"""Response times: for each customer turn, how long the agent took to reply.

A customer "turn" is the run of customer messages since the last agent message; its response time runs
from the turn's first message to the next agent message. Without timestamps there are none.
"""
from __future__ import annotations

from typing import NamedTuple

from csqa.core.records import AGENT, CUSTOMER, Conversation


class Response(NamedTuple):  # immutable and cheap to create (a frozen dataclass is not)
    customer_index: int  # first customer message of the turn
    agent_index: int  # the agent's reply
    seconds: float
    first: bool


def responses(conv: Conversation) -> list[Response]:
    """Each customer turn that got an agent reply, with its delay in seconds."""
    out: list[Response] = []
    waiting = None  # index of the first unanswered customer message
    since = 0.0  # … and its time
    for msg in conv.messages:
        t = msg.time
        if t is None:
            continue
        role = msg.role
        if role == CUSTOMER:
            if waiting is None:
                waiting, since = msg.index, t
        elif role == AGENT and waiting is not None:
            delay = t - since
            out.append(Response(waiting, msg.index, delay if delay > 0.0 else 0.0, not out))  # max(0.0, delay)
            waiting = None
    return out
