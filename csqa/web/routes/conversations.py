"""/conversations/{id}: the transcript with findings highlighted in place, the ledger and the scores;
POST …/unmask: a manager or admin shows one conversation's personal data (recorded in the audit trail)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from csqa.web import access, accounts, queries
from csqa.web.auth import client_of, desk_of, guarded, not_found, render


def _load(cur, user: accounts.User, conversation_id: str, unmask: bool) -> dict | None:
    row = queries.conversation(cur, conversation_id)
    if row is None or not access.may_see_conversation(cur, user, row):
        return None  # another agent's conversation looks exactly like one that does not exist
    return queries.conversation_detail(cur, row, unmask)


def _page(request: Request, session, detail: dict, notice: str = "") -> Response:
    return render(request, "conversation.html", {
        "d": detail, "c": detail["row"], "may_unmask": access.may_unmask(session.user), "notice": notice,
    }, session=session)


@guarded()
async def conversation_page(request: Request, session, form) -> Response:
    detail = await desk_of(request).read(_load, session.user, request.path_params["conversation_id"], False)
    if detail is None:
        return not_found(request, session)
    return _page(request, session, detail)


@guarded(*access.SEE_ALL)
async def unmask(request: Request, session, form) -> Response:
    desk = desk_of(request)
    cid = request.path_params["conversation_id"]
    row = await desk.read(queries.conversation, cid)
    if row is None:
        return not_found(request, session)
    if row["run_masked"]:  # nothing to show: the run stored its text masked
        detail = await desk.read(_load, session.user, cid, False)
        return _page(request, session, detail, "这次评分时个人信息已打码后入库，无法还原 / this run stored the text masked: "
                                               "there is nothing to unmask")
    await desk.write(accounts.audit, session.user.username, "conversation_unmasked", cid,
                     {"run_id": row["run_id"], "client": client_of(request)})
    detail = await desk.read(_load, session.user, cid, True)
    return _page(request, session, detail, "已显示个人信息 (本次查看已记入审计记录) / personal data shown: recorded in the audit trail")


ROUTES = [
    # (the unmask route first: a conversation id may hold "/", and {…:path} would swallow "/unmask")
    Route("/conversations/{conversation_id:path}/unmask", unmask, methods=["POST"]),
    Route("/conversations/{conversation_id:path}", conversation_page, methods=["GET"]),
]
