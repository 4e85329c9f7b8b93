"""Who may see which rows. Roles decide the pages (`csqa.web.auth.guarded`); these decide the rows.

- admin, manager: every conversation and every agent's page; only they may unmask a conversation
  (each time recorded in the audit trail), only an admin manages users.
- agent: the conversations they took part in (primary agent, or one of the conversation's agents)
  and their own page; anything else is 404 (a conversation: its existence is not revealed) or 403.
- reviewer: the conversations assigned to them (the review loop's queue, `csqa sample --reviewers`) or
  reviewed by them; they give verdicts there. A manager may give verdicts on any conversation.
- appeals: an agent files them on their own conversations; only a manager rules on them.
"""
from __future__ import annotations

from csqa.web.accounts import User

SEE_ALL = ("admin", "manager")
ALL_ROLES = ("admin", "manager", "reviewer", "agent")


REVIEWERS = ("reviewer", "manager")  # who may give verdicts and add missed findings
ARBITERS = ("manager",)  # who rules on appeals


def reviewer_has(cur, user: User, conversation_id: str) -> bool:
    """The conversation is in the reviewer's queue, or they gave a verdict on it."""
    return bool(cur.execute(
        """SELECT 1 FROM review_assignments WHERE reviewer = ? AND conversation_id = ?
           UNION ALL SELECT 1 FROM review_verdicts WHERE reviewer = ? AND conversation_id = ? LIMIT 1""",
        [user.username, conversation_id, user.username, conversation_id]).fetchall())


def reviewer_conversations(cur, user: User) -> set[str]:
    """The conversations assigned to a reviewer or reviewed by them."""
    return {r[0] for r in cur.execute(
        """SELECT conversation_id FROM review_assignments WHERE reviewer = ?
           UNION SELECT conversation_id FROM review_verdicts WHERE reviewer = ?""",
        [user.username, user.username]).fetchall()}


def may_see_conversation(cur, user: User, row: dict) -> bool:
    if user.role in SEE_ALL:
        return True
    if user.role == "agent":
        return bool(user.agent_id) and (row.get("agent_id") == user.agent_id or user.agent_id in row.get("agents_list", []))
    if user.role == "reviewer":
        return reviewer_has(cur, user, row["conversation_id"])
    return False


def may_see_agent(user: User, agent_id: str) -> bool:
    if user.role in SEE_ALL:
        return True
    return user.role == "agent" and bool(user.agent_id) and user.agent_id == agent_id


def may_unmask(user: User) -> bool:
    return user.role in SEE_ALL


def may_review(user: User) -> bool:
    return user.role in REVIEWERS


def may_rule(user: User) -> bool:
    return user.role in ARBITERS


def may_appeal(user: User, row: dict) -> bool:
    """An agent, on a conversation they took part in (the review loop checks the finding is theirs)."""
    return user.role == "agent" and bool(user.agent_id) and (
        row.get("agent_id") == user.agent_id or user.agent_id in row.get("agents_list", []))
