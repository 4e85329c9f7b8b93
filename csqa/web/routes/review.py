"""/queue, /appeals, /precision: the review loop's pages.

Until the review loop's functions are in the store (csqa.review), they show what the store holds:
the queue page the conversations every review sample starts with (red lines, serious complaints) for
managers and a reviewer's assigned conversations (none yet); the appeals page an agent's findings and
the (empty) inbox; the precision page how often each rule fires, with nothing reviewed yet.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from csqa.web import access, queries
from csqa.web.auth import desk_of, guarded, render


@guarded("reviewer", *access.SEE_ALL)
async def queue(request: Request, session, form) -> Response:
    user = session.user

    def load(cur):
        assigned = sorted(access.reviewer_conversations(cur, user)) if user.role == "reviewer" else []
        candidates = queries.review_candidates(cur) if user.role in access.SEE_ALL else []
        return {"assigned": assigned, "candidates": candidates}

    return render(request, "queue.html", await desk_of(request).read(load), session=session)


@guarded("agent", *access.SEE_ALL)
async def appeals(request: Request, session, form) -> Response:
    user = session.user

    def load(cur):
        findings = queries.agent_findings(cur, user.agent_id) if user.role == "agent" and user.agent_id else []
        return {"findings": findings, "appeals": []}

    return render(request, "appeals.html", await desk_of(request).read(load), session=session)


@guarded(*access.SEE_ALL)
async def precision(request: Request, session, form) -> Response:
    rules = await desk_of(request).read(queries.rule_hits)
    return render(request, "precision.html", {"rules": rules}, session=session)


ROUTES = [
    Route("/queue", queue, methods=["GET"]),
    Route("/appeals", appeals, methods=["GET"]),
    Route("/precision", precision, methods=["GET"]),
]
