"""Who may see which rows. Roles decide the pages (`csqa.web.auth.guarded`); these decide the rows.

- admin, manager: every conversation and every agent's page; only they may unmask a conversation
  (each time recorded in the audit trail), only an admin manages users.
- agent: the conversations they took part in (primary agent, or one of the conversation's agents)
  and their own page; anything else is 404 (a conversation: its existence is not revealed) or 403.
- reviewer: the conversations assigned to them or reviewed by them (the review loop's queue).
"""
from __future__ import annotations

from csqa.web.accounts import User

SEE_ALL = ("admin", "manager")
ALL_ROLES = ("admin", "manager", "reviewer", "agent")


def reviewer_conversations(cur, user: User) -> set[str]:
    """The conversations assigned to a reviewer or reviewed by them: none until the review loop's
    queue and verdicts are in the store."""
    return set()


def may_see_conversation(cur, user: User, row: dict) -> bool:
    if user.role in SEE_ALL:
        return True
    if user.role == "agent":
        return bool(user.agent_id) and (row.get("agent_id") == user.agent_id or user.agent_id in row.get("agents_list", []))
    if user.role == "reviewer":
        return row["conversation_id"] in reviewer_conversations(cur, user)
    return False


def may_see_agent(user: User, agent_id: str) -> bool:
    if user.role in SEE_ALL:
        return True
    return user.role == "agent" and bool(user.agent_id) and user.agent_id == agent_id


def may_unmask(user: User) -> bool:
    return user.role in SEE_ALL
