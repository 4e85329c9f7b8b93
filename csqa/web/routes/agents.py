"""/agents/{agent_id}: an agent's own page (their conversations, scores and trend); managers see anyone's."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from csqa.web import access, queries
from csqa.web.auth import desk_of, forbidden, guarded, not_found, render
from csqa.web.render import Point, line_chart

PAGE_SIZE = 100


def _page_number(value) -> int:
    try:
        return max(1, min(int(value), 100_000))
    except (TypeError, ValueError):
        return 1


@guarded("agent", *access.SEE_ALL)
async def agent_page(request: Request, session, form) -> Response:
    agent_id = request.path_params["agent_id"]
    if not access.may_see_agent(session.user, agent_id):
        return forbidden(request, session)
    page = _page_number(request.query_params.get("page"))

    def load(cur):
        rows, total = queries.agent_conversations(cur, agent_id, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        human = queries.human_scores_of(cur, [r["conversation_id"] for r in rows])
        for r in rows:
            r["human_score"] = human.get(r["conversation_id"])
        return (queries.agent_summary(cur, agent_id), queries.agent_trend(cur, agent_id), rows, total,
                queries.agent_review_summary(cur, agent_id))

    summary, trend, rows, total, review = await desk_of(request).read(load)
    if not total and session.user.role != "agent":
        return not_found(request, session)
    points = [Point(queries.day_label(t["day"]), float(t["mean_score"]), int(t["n"])) for t in trend]
    rate = [Point(queries.day_label(t["day"]), 100 * float(t["pass_rate"]), int(t["n"])) for t in trend]
    chart = line_chart(points, f"{agent_id} 每日平均分与合格率", second=rate, first_label="平均分", second_label="合格率 %",
                       show_n=True) if points else None
    return render(request, "agent.html", {
        "agent_id": agent_id, "summary": summary, "review": review, "chart": chart, "rows": rows, "total": total, "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
    }, session=session)


@guarded("agent")
async def my_page(request: Request, session, form) -> Response:
    from starlette.responses import RedirectResponse
    from urllib.parse import quote

    return RedirectResponse("/agents/" + quote(session.user.agent_id or "", safe=""), status_code=303)


ROUTES = [
    Route("/me", my_page, methods=["GET"]),
    Route("/agents/{agent_id:path}", agent_page, methods=["GET"]),
]
