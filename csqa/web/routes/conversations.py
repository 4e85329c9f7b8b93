"""/conversations/{id}: the transcript with findings highlighted in place, the ledger, the machine and the
human score, and what people decided about each finding; the actions on it, each a POST with the CSRF
token, carried out by the review loop's functions (csqa.review), which append its audit trail:

- POST …/verdict   正确 / 误报 / 撤回 on one finding, with a comment (a reviewer with the conversation in
  their queue, or a manager)
- POST …/missed    add a finding the machine missed (rule, message, comment) (same people)
- POST …/appeal    an agent disputes a finding of their own conversation, with a reason
- POST …/unmask    a manager or admin shows one conversation's personal data (recorded in the audit trail)
"""
from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from csqa.core.errors import ConfigError
from csqa.web import access, accounts, queries
from csqa.web.auth import client_of, desk_of, forbidden, guarded, not_found, render

MAX_TEXT = 2000


def _load(cur, user: accounts.User, conversation_id: str, unmask: bool) -> dict | None:
    row = queries.conversation(cur, conversation_id)
    if row is None or not access.may_see_conversation(cur, user, row):
        return None  # another agent's conversation looks exactly like one that does not exist
    detail = queries.conversation_detail(cur, row, unmask)
    detail["review"] = queries.review_of(cur, detail)
    return detail


def _page(request: Request, session, detail: dict, notice: str = "", error: str = "", status: int = 200) -> Response:
    user = session.user
    return render(request, "conversation.html", {
        "d": detail, "c": detail["row"], "r": detail["review"], "may_unmask": access.may_unmask(user),
        "may_review": access.may_review(user), "may_appeal": access.may_appeal(user, detail["row"]),
        "notice": notice, "error": error,
    }, status, session)


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


# ---------------------------------------------------------------------------- actions of the review loop
def _field(form, name: str, required: bool = False, what: str = "") -> str:
    value = form.get(name)
    value = value.strip() if isinstance(value, str) else ""
    if required and not value:
        raise ConfigError(f"请填写{what} / {name} is required")
    if len(value) > MAX_TEXT:
        raise ConfigError(f"{what}最多 {MAX_TEXT} 个字 / {name} is longer than {MAX_TEXT} characters")
    return value


def _status_of(exc: Exception) -> int:
    from csqa.review import Conflict, NotAllowed, NotFound

    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, NotAllowed):
        return 403
    if isinstance(exc, Conflict):
        return 409
    return 400


def _action(kind: str):
    """A POST on one conversation: the row check, then the review loop's function under the one writer."""

    async def act(request: Request, session, form) -> Response:
        from csqa.review import ReviewError, add_missed, file_appeal, set_verdict

        desk = desk_of(request)
        user = session.user
        cid = request.path_params["conversation_id"]
        row = await desk.read(queries.conversation, cid)
        if row is None or not await desk.read(access.may_see_conversation, user, row):
            return not_found(request, session)
        if kind in ("verdict", "missed") and not access.may_review(user):
            return forbidden(request, session)
        if kind == "appeal" and not access.may_appeal(user, row):
            return forbidden(request, session)
        anchor = ""
        try:
            if kind in ("verdict", "appeal"):
                finding = _field(form, "finding_id", True, "问题编号")
                if not await desk.read(queries.finding_of_conversation, cid, finding):
                    from csqa.review import NotFound

                    raise NotFound(f"会话 {cid} 中没有问题 {finding[:40]} / no such finding in this conversation")
            if kind == "verdict":
                verdict = _field(form, "verdict", True, "判定")
                if verdict not in ("correct", "false_positive", "withdrawn"):
                    raise ConfigError("判定须为 正确 / 误报 / 撤回 / the verdict must be correct, false_positive or withdrawn")
                comment = _field(form, "comment", False, "说明")
                await desk.apply(set_verdict, user.username, finding, verdict, comment,
                                 audit=(user.username, "web_verdict", cid, {"finding_id": finding, "verdict": verdict,
                                                                            "client": client_of(request)}))
                anchor = "#ledger"
            elif kind == "missed":
                rule_id = _field(form, "rule_id", True, "规则")
                index_text = _field(form, "message_index", False, "消息序号")
                try:
                    index = int(index_text) if index_text else None
                except ValueError:
                    raise ConfigError(f"消息序号须为整数 (收到 {index_text[:20]!r}) / message_index must be a number") from None
                comment = _field(form, "comment", False, "说明")
                fid = await desk.apply(add_missed, user.username, cid, rule_id, index, comment,
                                       audit=(user.username, "web_missed", cid, {"rule_id": rule_id, "message_index": index,
                                                                                 "client": client_of(request)}))
                anchor = "#missed"
                del fid
            else:
                reason = _field(form, "reason", True, "申诉理由")
                await desk.apply(file_appeal, user.agent_id, finding, reason,
                                 audit=(user.username, "web_appeal", cid, {"finding_id": finding, "agent_id": user.agent_id,
                                                                           "client": client_of(request)}))
                anchor = "#appeals"
        except (ReviewError, ConfigError) as exc:
            detail = await desk.read(_load, user, cid, False)
            if detail is None:
                return not_found(request, session)
            return _page(request, session, detail, error=str(exc), status=_status_of(exc))
        return RedirectResponse("/conversations/" + quote(cid, safe="") + anchor, status_code=303)

    act.__name__ = f"conversation_{kind}"
    return guarded("agent")(act) if kind == "appeal" else guarded(*access.REVIEWERS)(act)


ROUTES = [
    # (the action routes first: a conversation id may hold "/", and {…:path} would swallow "/unmask")
    Route("/conversations/{conversation_id:path}/unmask", unmask, methods=["POST"]),
    Route("/conversations/{conversation_id:path}/verdict", _action("verdict"), methods=["POST"]),
    Route("/conversations/{conversation_id:path}/missed", _action("missed"), methods=["POST"]),
    Route("/conversations/{conversation_id:path}/appeal", _action("appeal"), methods=["POST"]),
    Route("/conversations/{conversation_id:path}", conversation_page, methods=["GET"]),
]
