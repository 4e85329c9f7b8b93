"""Alerts (`csqa score … --alert-webhook URL [--alert-format json|dingtalk|wecom|feishu]`).

After a run is complete (OUTDIR published, the store written), one message per red-line
conversation and per serious complaint goes to the webhook: conversation, agent, score, the
rules it broke with their **masked** evidence (masked again here whatever the run's --no-mask),
and where to drill down (``--alert-link`` with ``{conversation_id}``, else OUTDIR/report.html).

Delivery: a POST of JSON with a timeout; a failure (no connection, a timeout, HTTP 5xx or 429, or
a DingTalk / WeCom / Feishu reply with a non-zero error code) is retried with back-off (0.5 s,
1 s, 2 s …); a message that still fails — or that the receiver refuses (another 4xx) — goes to
``OUTDIR/alerts_undelivered.jsonl`` (one JSON object a line: the message, the URL without its
query, the last error), so nothing is lost. After ``give_up_after`` messages in a row that could
not be delivered the receiver is taken to be down and the rest go to the file directly. The run
never fails because of a receiver: `send_alerts` returns counts and never raises for delivery.
"""
from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

FORMATS = ("json", "dingtalk", "wecom", "feishu")
DEAD_LETTER = "alerts_undelivered.jsonl"
MAX_EVIDENCE = 120


@dataclass
class AlertOptions:
    url: str
    format: str = "json"
    timeout: float = 5.0
    retries: int = 3  # attempts after the first
    backoff: float = 0.5  # seconds before the first retry; doubled each time
    give_up_after: int = 3  # messages in a row undelivered → the receiver is down
    link: str | None = None  # e.g. "https://desk.example/c/{conversation_id}"


@dataclass
class AlertResult:
    alerts: int = 0
    delivered: int = 0
    undelivered: int = 0
    attempts: int = 0
    dead_letter: Path | None = None
    errors: list[str] = field(default_factory=list)

    def text(self) -> str:
        if not self.alerts:
            return "告警: 无红线或重大投诉会话，未发送"
        line = f"告警: {self.alerts} 条，送达 {self.delivered} 条"
        if self.undelivered:
            line += f"，未送达 {self.undelivered} 条 → {self.dead_letter} (最后错误: {self.errors[-1]})"
        return line


def check_options(url: str, fmt: str) -> None:
    """Before the run: a URL csqa can post to (http or https), a known format."""
    from csqa.core.errors import ConfigError

    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--alert-webhook 需要 http(s):// 开头的地址 (收到 {_safe_url(url)})")
    if fmt not in FORMATS:
        raise ConfigError(f"--alert-format 须为 {', '.join(FORMATS)} 之一")


def _safe_url(url: str) -> str:
    """The URL without query or credentials (webhook tokens live there): for messages and the dead-letter file."""
    try:
        p = urlsplit(url)
        host = p.hostname or ""
        if p.port:
            host += f":{p.port}"
        return urlunsplit((p.scheme, host, p.path, "", ""))
    except ValueError:
        return "(无效地址)"


def build_alerts(outdir: Path, options: AlertOptions) -> list[dict]:
    """The alerts of a finished run, from OUTDIR's conversations.csv and findings.csv."""
    from csqa.checks.pii import mask_pii

    conv = pd.read_csv(outdir / "conversations.csv", dtype={"conversation_id": str, "agent_id": str},
                       encoding="utf-8-sig", keep_default_na=False)
    if conv.empty:
        return []
    fnd = pd.read_csv(outdir / "findings.csv", dtype={"conversation_id": str}, encoding="utf-8-sig", keep_default_na=False)
    critical = conv["critical"].astype(str).eq("True")
    serious = conv.get("complaint_severity", pd.Series("", index=conv.index)).astype(str).eq("serious")
    chosen = conv[critical | serious]
    by_conv = {cid: g for cid, g in fnd.groupby("conversation_id", sort=False)}
    report = str((outdir / "report.html").resolve())
    alerts = []
    for c in chosen.itertuples(index=False):
        found = by_conv.get(c.conversation_id, fnd.iloc[0:0])
        red = found[found["severity"] == "critical"]
        shown = red if len(red) else found.head(3)
        rules = [{"rule_id": f.rule_id, "rule_name": f.rule_name,
                  "evidence": mask_pii(str(f.evidence or f.explanation))[:MAX_EVIDENCE]} for f in shown.itertuples()]
        reason = "red_line" if str(c.critical) == "True" else "serious_complaint"
        link = options.link.replace("{conversation_id}", c.conversation_id) if options.link else report
        alerts.append({"type": "csqa.alert", "reason": reason, "conversation_id": c.conversation_id,
                       "agent_id": c.agent_id, "score": float(c.score), "started_at": str(c.started_at),
                       "complaint_category": str(getattr(c, "complaint_category", "")), "rules": rules, "link": link})
    return alerts


def _text(alert: dict) -> str:
    title = "红线违规" if alert["reason"] == "red_line" else "重大投诉"
    lines = [f"【csqa 质检告警】{title}", f"会话 {alert['conversation_id']} · 客服 {alert['agent_id']} · 得分 {alert['score']:.2f}"]
    lines += [f"- {r['rule_id']} {r['rule_name']}: {r['evidence']}" for r in alert["rules"]]
    lines.append(f"详情: {alert['link']}")
    return "\n".join(lines)


def payload(alert: dict, fmt: str) -> dict:
    """The request body for the receiver's format."""
    if fmt == "json":
        return alert
    text = _text(alert)
    if fmt == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": "csqa 质检告警", "text": text.replace("\n", "\n\n")}}
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": text}}
    return {"msg_type": "text", "content": {"text": text}}  # feishu


class _Refused(Exception):
    """The receiver said no (a 4xx other than 429): trying again will not help."""


def _post(url: str, body: bytes, fmt: str, timeout: float) -> None:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "csqa-alerts"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) checked
            raw = response.read(65536)
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500 and exc.code != 429:
            raise _Refused(f"HTTP {exc.code}") from None
        raise OSError(f"HTTP {exc.code}") from None
    if fmt in ("dingtalk", "wecom", "feishu"):
        try:
            reply = json.loads(raw.decode("utf-8") or "{}")
        except (ValueError, UnicodeDecodeError):
            reply = {}
        code = reply.get("errcode", reply.get("code", 0)) if isinstance(reply, dict) else 0
        if code not in (0, None, "0"):
            raise OSError(f"接收方返回错误码 {code}: {str(reply.get('errmsg') or reply.get('msg') or '')[:80]}")


def deliver(alert: dict, options: AlertOptions, result: AlertResult, sleep=time.sleep) -> str | None:
    """Post one alert with retries; None when delivered, else the last error."""
    body = json.dumps(payload(alert, options.format), ensure_ascii=False).encode("utf-8")
    delay = options.backoff
    error = None
    for attempt in range(options.retries + 1):
        if attempt:
            sleep(delay)
            delay *= 2
        result.attempts += 1
        try:
            _post(options.url, body, options.format, options.timeout)
            return None
        except _Refused as exc:
            return f"接收方拒绝 ({exc})"
        except (OSError, ValueError) as exc:  # URLError, timeouts, connection resets, 5xx
            reason = getattr(exc, "reason", None) or exc
            error = f"{type(reason).__name__ if not isinstance(reason, str) else 'URLError'}: {reason}"[:200]
    return error


def send_alerts(outdir: str | Path, options: AlertOptions) -> AlertResult:
    """Send the run's alerts; what cannot be delivered goes to OUTDIR/alerts_undelivered.jsonl. Never raises
    for a receiver's failure."""
    outdir = Path(outdir)
    result = AlertResult()
    try:
        alerts = build_alerts(outdir, options)
    except (OSError, ValueError, KeyError) as exc:
        result.errors.append(f"无法读取本次结果: {exc}")
        return result
    result.alerts = len(alerts)
    dead: list[dict] = []
    in_a_row = 0
    for alert in alerts:
        if in_a_row >= options.give_up_after:
            error = f"接收方连续 {in_a_row} 条未送达，视为不可用，未再尝试"
        else:
            error = deliver(alert, options, result)
        if error is None:
            result.delivered += 1
            in_a_row = 0
        else:
            in_a_row += 1
            result.errors.append(error)
            dead.append({"alert": alert, "url": _safe_url(options.url), "format": options.format, "error": error,
                         "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    result.undelivered = len(dead)
    if dead:
        path = outdir / DEAD_LETTER
        temp = outdir / f".{DEAD_LETTER}.csqa-{os.getpid()}-{secrets.token_hex(3)}"
        try:
            with open(temp, "w", encoding="utf-8") as fh:
                for row in dead:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            os.replace(temp, path)
            result.dead_letter = path
        except OSError as exc:
            result.errors.append(f"无法写入 {path}: {exc}")
            if temp.exists():
                temp.unlink()
    return result
