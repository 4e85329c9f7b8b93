"""/queue, /appeals, /appeals/{id}/ruling, /precision: the review loop's pages (csqa.review does the work).

- /queue: a reviewer's queue (conversations `csqa sample --reviewers` assigned to them, reviewed or not);
  a manager's: every queued conversation and the ones every sample starts with (red lines, serious
  complaints), and POST /queue/sample: the same sampling as `csqa sample`, from the page.
- /appeals: an agent's own appeals with their rulings; a manager's inbox of open appeals, each with
  a ruling form (维持 / 撤销 + comment), and the appeals already ruled on.
- POST /appeals/{id}/ruling: a manager rules (final; the human score follows; the audit trail gets it).
- /precision: per rule how often it fired, the reviewers' verdicts and its precision (Wilson 95 %), and
  the reviewers' agreement on calibration conversations.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from csqa.core.errors import ConfigError
from csqa.web import access, queries
from csqa.web.auth import client_of, desk_of, guarded, render


def _queue(cur, user, error: str = "", notice: str = "", form: dict | None = None) -> dict:
    from csqa.web import accounts

    if user.role == "reviewer":
        return {"assigned": queries.reviewer_queue(cur, user.username), "candidates": [], "error": error,
                "notice": notice, "reviewers": [], "form": {}, "may_sample": False}
    reviewers = [u.username for u in accounts.list_users(cur) if u.role == "reviewer" and not u.disabled]
    return {"assigned": queries.reviewer_queue_all(cur), "candidates": queries.review_candidates(cur), "error": error,
            "notice": notice, "reviewers": reviewers, "form": form or {}, "may_sample": access.may_rule(user)}


@guarded("reviewer", *access.SEE_ALL)
async def queue(request: Request, session, form) -> Response:
    return render(request, "queue.html", await desk_of(request).read(_queue, session.user), session=session)


def _sample_here(con, out: str, options, assigned_by: str):
    """The review loop's sampling; its queue workbooks go to a folder removed afterwards (the desk is the queue)."""
    from csqa.review import sample

    return sample(con, out, options, assigned_by=assigned_by)


@guarded(*access.ARBITERS)
async def sample_queue(request: Request, session, form) -> Response:
    """A manager samples conversations into reviewers' queues (the same sampling as `csqa sample`)."""
    import shutil
    import tempfile
    from pathlib import Path

    from csqa.review import ReviewError, SampleOptions, parse_reviewers

    desk = desk_of(request)
    user = session.user
    values = {k: (form.get(k) if isinstance(form.get(k), str) else "").strip()[:2000] for k in
              ("reviewers", "rate", "min_per_agent", "calibration", "seed", "agent")}
    folder = None
    try:
        names = parse_reviewers(values["reviewers"])
        if not names:
            raise ConfigError("请填写复核员 (用户名，逗号分隔) / name at least one reviewer")
        known = set((await desk.read(_queue, user))["reviewers"])
        unknown = [n for n, _ in names if n not in known]
        if unknown:
            raise ConfigError(f"不是可用的复核员账号: {'、'.join(unknown)} / not an active reviewer: {', '.join(unknown)}")
        try:
            rate = float(values["rate"] or "0.05")
            min_per_agent = int(values["min_per_agent"] or "0")
            calibration = int(values["calibration"] or "0")
        except ValueError:
            raise ConfigError("比例须为 0–1 的小数，每人最少和校准数须为整数 / rate 0–1, counts whole numbers") from None
        if not 0 <= rate <= 1 or min_per_agent < 0 or calibration < 0:
            raise ConfigError("比例须在 0–1 之间，数量不能为负 / rate 0–1, counts not negative")
        options = SampleOptions(rate=rate, min_per_agent=min_per_agent, reviewers=names, calibration=calibration,
                                seed=values["seed"] or "0", period="week", agent=values["agent"] or None)
        folder = tempfile.mkdtemp(prefix="csqa-desk-sample-")
        result = await desk.apply(_sample_here, str(Path(folder) / "queue.xlsx"), options, user.username,
                                  audit=(user.username, "web_sample", values["reviewers"][:200],
                                         {**values, "client": client_of(request)}))
    except (ReviewError, ConfigError) as exc:
        return render(request, "queue.html", await desk.read(_queue, user, str(exc), "", values), 400, session)
    finally:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
    text = result.text().splitlines()[0]
    return render(request, "queue.html", await desk.read(_queue, user, "", text), session=session)


def _appeals(cur, user, error: str = ""):
    from csqa.review import list_appeals

    def shown(a):
        d = a.as_dict()
        d["status_zh"] = queries.APPEAL_ZH.get(d["status"], d["status"])
        d["reason"], d["ruling_comment"] = queries._masked(d["reason"]), queries._masked(d["ruling_comment"])
        return d

    if user.role == "agent":
        mine = [shown(a) for a in list_appeals(cur, agent=user.agent_id)] if user.agent_id else []
        findings = queries.agent_findings(cur, user.agent_id) if user.agent_id else []
        return {"appeals": list(reversed(mine)), "findings": findings, "open": [], "ruled": [], "error": error}
    every = [shown(a) for a in list_appeals(cur)]
    return {"appeals": [], "findings": [], "open": [a for a in every if a["status"] == "open"],
            "ruled": list(reversed([a for a in every if a["status"] != "open"]))[:200], "error": error,
            "may_rule": access.may_rule(user)}


@guarded("agent", *access.SEE_ALL)
async def appeals(request: Request, session, form) -> Response:
    return render(request, "appeals.html", await desk_of(request).read(_appeals, session.user), session=session)


@guarded(*access.ARBITERS)
async def ruling(request: Request, session, form) -> Response:
    from csqa.review import ReviewError, rule_on_appeal

    from csqa.web.routes.conversations import _field, _status_of

    desk = desk_of(request)
    user = session.user
    appeal_id = request.path_params["appeal_id"]
    try:
        decision = _field(form, "decision", True, "裁决")
        if decision not in ("upheld", "overturned"):
            raise ConfigError("裁决须为 维持 (upheld) 或 撤销 (overturned) / the decision must be upheld or overturned")
        comment = _field(form, "comment", False, "裁决说明")
        await desk.apply(rule_on_appeal, user.username, appeal_id, decision, comment,
                         audit=(user.username, "web_ruling", str(appeal_id), {"decision": decision,
                                                                              "client": client_of(request)}))
    except (ReviewError, ConfigError) as exc:
        status = _status_of(exc)
        return render(request, "appeals.html", await desk.read(_appeals, user, str(exc)), status, session)
    return RedirectResponse(f"/appeals#a{appeal_id}", status_code=303)


@guarded(*access.SEE_ALL)
async def precision(request: Request, session, form) -> Response:
    def load(cur):
        from csqa.review import reviewer_agreement, rule_precision

        judged = {r["rule_id"]: r for r in rule_precision(cur).to_dict("records")}
        rules = queries.rule_hits(cur)
        known = {r["rule_id"] for r in rules}
        for r in rules:
            r["review"] = judged.get(r["rule_id"])
        for rule_id, j in judged.items():  # a rule reviewers said the machine missed, never fired
            if rule_id not in known:
                rules.append({"rule_id": rule_id, "rule_name": j.get("rule_name") or "", "check": "", "severity": "",
                              "hits": 0, "conversations": 0, "review": j})
        agreement = reviewer_agreement(cur).to_dict("records")
        return {"rules": rules, "agreement": agreement}

    return render(request, "precision.html", await desk_of(request).read(load), session=session)


ROUTES = [
    Route("/queue", queue, methods=["GET"]),
    Route("/queue/sample", sample_queue, methods=["POST"]),
    Route("/appeals", appeals, methods=["GET"]),
    Route("/appeals/{appeal_id:int}/ruling", ruling, methods=["POST"]),
    Route("/precision", precision, methods=["GET"]),
]
