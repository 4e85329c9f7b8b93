"""/overview: the manager's view of the team (every agent, red lines, the lowest scores, the runs)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from csqa.web import access, queries
from csqa.web.auth import desk_of, guarded, render


@guarded(*access.SEE_ALL)
async def overview(request: Request, session, form) -> Response:
    def load(cur):
        return {"team": queries.team_summary(cur), "agents": queries.team_agents(cur),
                "critical": queries.critical_conversations(cur), "lowest": queries.lowest_conversations(cur),
                "runs": queries.runs(cur)}

    return render(request, "overview.html", await desk_of(request).read(load), session=session)


ROUTES = [Route("/overview", overview, methods=["GET"])]
