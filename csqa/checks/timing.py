"""Response times: the first reply and every later reply against the shop's limits.

Bad: the customer writes at 09:00:00 and the agent's first reply comes at 09:01:10
(70 s against a 30 s limit, 000 §3.1 在线客服XX秒内). Good: a reply within the limit.
A customer "turn" is the run of customer messages since the last agent message; its
response time runs from the turn's first message to the next agent message. Without
timestamps the timing checks are N/A.
"""
from __future__ import annotations

from typing import NamedTuple

from csqa.model import AGENT, CUSTOMER, Conversation


class Response(NamedTuple):  # immutable and cheap to create (a frozen dataclass is not)
    customer_index: int  # first customer message of the turn
    agent_index: int  # the agent's reply
    seconds: float
    first: bool


def responses(conv: Conversation) -> list[Response]:
    """Each customer turn that got an agent reply, with its delay in seconds."""
    out: list[Response] = []
    waiting_since = None  # (index, time) of the first unanswered customer message
    for msg in conv.messages:
        if msg.time is None:
            continue
        if msg.role == CUSTOMER and waiting_since is None:
            waiting_since = (msg.index, msg.time)
        elif msg.role == AGENT and waiting_since is not None:
            out.append(Response(waiting_since[0], msg.index, max(0.0, msg.time - waiting_since[1]), not out))
            waiting_since = None
    return out
