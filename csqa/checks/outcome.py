"""The conversation's outcome: did the agent answer, how did the customer take it, what stayed open.

The seeds measure service by its result as well as its manners: 问题解决率 / 一次解决率 and
客户满意度 (003 KPI, 004 §4), and 000 §3.3 asks the agent not to guess but to answer or say when
an answer will come. Reviewers (and the STC-3 annotators) reward a concrete answer and a customer
who accepts it; a canned deferral that passes every etiquette check does not solve anything.

Three measures, each a check of the rulebook's 解决与满意 dimension:

- ``answer`` (check concrete_answer). Bad: the agent only greets, asks the customer to wait,
  to 私信 or to send details, and closes —「您好，请您私信提供订单号，我们会尽快处理」and nothing
  else. Good: some reply carries information, steps, a decision or a dated commitment —
  「您可以在 设置-应用管理 里清除商店数据，再重启」,「已为您登记，预计 2 个工作日内回电」.
- ``reaction`` (check customer_reaction). Bad: after the agent's last answer the customer is
  still unhappy, repeats the question or escalates —「还是不行」「算了，认倒霉吧」「？？？」.
  Good:「好了，谢谢」「明白了」, or nothing more to say.
- ``confirmed`` (check customer_reaction, a lighter rule): the customer never said the reply
  worked — the chat ends without 好的 / 谢谢 / 解决了 after the agent's last answer or deferral.
  Bad: the agent's reply is the last word, or the customer only asks on. Good:「可以了，谢谢」.
- ``resolved`` (check request_resolved). Bad: the customer's last question or complaint gets no
  answer — the chat ends on it, or the agent only sends closing templates after it. Good: the
  last request is answered, or handed on with a next step.

What an agent message is (`reply_kind`): its clauses are stripped of filler phrases (greetings,
waiting, closing and apology formulas, terms of address, particles); a clause with enough left
is an answer, unless it asks the customer something or puts the answer off (deferral cues).
All of it is a pure function of the text, so results are kept per distinct text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from csqa.core.memo import Memo

ANSWER, DEFERRAL, QUESTION, FILLER = "answer", "deferral", "question", "filler"
SATISFIED, UNHAPPY, NEUTRAL = "satisfied", "unhappy", "neutral"

# clauses: sentence and clause punctuation, runs of spaces (exports join a turn's messages with them) and a
# space between two Chinese characters end one; a space beside digits or Latin letters (2 个工作日) does not
_CLAUSE = re.compile(r"(?:[^，,。.!！?？;；~～\s]|(?<![\u4e00-\u9fff\s])[ \t](?!\s)|[ \t](?![\u4e00-\u9fff\s]))+[?？]*")
# what is never content: punctuation, emoji and symbols, masks of non-content ([商品快照] …)
_NOISE = re.compile(r"[\W_]+|\[(?:商品快照|表情|图片|链接|站点x|语音)\]", re.UNICODE)
_PARTICLES = re.compile(r"(?:的呢|的哦|的哈|的呀|的啦|的亲|呢|哦|噢|哈|呀|啦|嘛|哒|滴|喔|吖|哟|嗯|恩|啊|哇|捏)")
_ADDRESS = re.compile(r"(?:亲爱的|亲亲|亲们|亲|您好|你好|小主|宝宝|小可爱|尊敬的(?:客户|顾客|会员|用户|商家朋友)?)")
_QUESTION_END = re.compile(r"(?:[?？]|[吗么嘛]\s*$|呢[?？]?\s*$(?<=[是有吗么哪几多怎啥谁]呢)|是否)")
_ASKS = re.compile(r"(?:请问|是否|是不是|有没有|能否|可否|哪个|哪款|哪一|什么时候|多少|几号|怎么样了|方便)")
# a dated commitment is an answer even when it hands the matter on (已登记，预计 2 个工作日内回电)
_WHEN = re.compile(r"(?:[0-9一二两三四五六七八九十半]+|\[数字x\])\s*(?:个)?(?:工作日|小时|分钟|天|日|周)(?:内|之内|左右|以内)?|今天|明天|后天|今晚|本周|下周")
# what makes a clause an answer even beside a request to 私信 / send details: an instruction, a reason,
# a state of things or a decision (您可以在…设置, 因为…, 目前…, 已为您…, 无法…)
_ANSWER_MARK = re.compile(
    r"建议您?(?:先|可以|尝试|将|把|到|去|在|使用|卸载|重启|关闭|打开|更换|拨打|登录|进入|点击)|您可以|可以在|请在|请您在|点击|进入|"
    r"打开|设置|选择|重启|卸载|清除|关闭|开启|操作|步骤|因为|由于|原因|是因|目前|暂时|暂不|无法|不能|不支持|支持|不需要|需要|"
    r"即可|就可以|就行|正常|已为您|已帮您|已经为您|已经帮您|已经|已(?:发货|退款|到账|处理|安排|修复|恢复|开通|取消|退回)|"
    r"预计|将于|会在|之前|之后|以内|[0-9]|\[数字x\]")
# courtesy: a short clause around these words apologizes, thanks or soothes, and answers nothing
_COURTESY = re.compile(r"抱歉|歉意|致歉|不便|谅解|理解|感谢|谢谢|久等|辛苦|不好意思|对不起|见谅|耐心")
_LEADING = re.compile(r"(?:哦|噢|喔|嗯|恩|啊|呃|额|那|哈|已经|现在|又|都|也|这下|终于)*")
_REPEAT_MIN_CHARS = 6
_CUSTOMER_QUESTION = re.compile(
    r"(?:[?？]|[吗么嘛]\s*$|怎么|为什么|为啥|什么时候|多久|几天|能不能|可不可以|可以吗|行不行|有没有|是不是|哪|咋|如何|多少)"
)


@dataclass(frozen=True)
class OutcomeCues:
    """The phrase lists of the rulebook's `outcome` block, ready to match."""

    filler: re.Pattern
    deferral: re.Pattern | None
    satisfied: re.Pattern | None
    unhappy: re.Pattern | None
    min_answer_chars: int

    @classmethod
    def compile(cls, filler, deferral, satisfied, unhappy, min_answer_chars: int = 4) -> "OutcomeCues":
        return cls(_alternation(filler), _alternation(deferral), _alternation(satisfied), _alternation(unhappy),
                   min_answer_chars)


def _alternation(phrases) -> re.Pattern | None:
    phrases = sorted({p for p in phrases if p}, key=len, reverse=True)  # longest first: 好的呢 before 好的
    return re.compile("|".join(map(re.escape, phrases))) if phrases else None


class ReplyClassifier:
    """`reply_kind(text)` and `reaction(text)` for one rulebook's cues, kept per distinct text.

    With `model` (the conduct model's reply head, csqa.checks.conduct_model) the model says what a reply does and
    the cues only place it (the span of the deciding clause); without, the cues decide."""

    def __init__(self, cues: OutcomeCues, model=None):
        self.cues = cues
        self.model = model
        # (answer / deferral / question / filler, the span of the clause that decided it), per reply text
        self.reply_kind = Memo(self._reply_kind)
        # satisfied / unhappy / neutral from the customer's own words (cues only), per message text
        self.reaction = Memo(self._reaction)

    # ---- agent replies -----------------------------------------------------------------------
    def _reply_kind(self, text: str) -> tuple[str, tuple[int, int] | None]:
        if self.model is None:
            return self._reply_kind_by_cues(text)
        if self._all_filler(text):
            return FILLER, None  # nothing left once the known formulas are taken away, whatever the model says
        return self.model.reply_kind(text), (0, len(text))

    def _all_filler(self, text: str) -> bool:
        """Every clause is a filler (what `_reply_kind_by_cues` calls FILLER), stopping at the first that is not."""
        return all(self._clause_kind(m.group(0))[0] == FILLER for m in _CLAUSE.finditer(text))

    def _reply_kind_by_cues(self, text: str) -> tuple[str, tuple[int, int] | None]:
        # every clause's kind and how much content it carries; a reply that puts the answer off
        # (私信 / 请提供 …) is an answer only if it also says something substantial
        first: dict[str, tuple[int, int]] = {}
        strong = None  # an answer clause that says what to do, why, or what the state is
        for m in _CLAUSE.finditer(text):
            kind, size = self._clause_kind(m.group(0))
            first.setdefault(kind, (m.start(), m.end()))
            if kind == ANSWER and strong is None and _ANSWER_MARK.search(m.group(0)):
                strong = (m.start(), m.end())
        if ANSWER in first and (DEFERRAL not in first or strong is not None):
            return ANSWER, (strong if DEFERRAL in first else first[ANSWER])
        for kind in (DEFERRAL, QUESTION):
            if kind in first:
                return kind, first[kind]
        return FILLER, None

    def _clause_kind(self, clause: str) -> tuple[str, int]:
        """(kind, characters of content) of one clause."""
        cues = self.cues
        content = cues.filler.sub("", clause)
        content = _ADDRESS.sub("", content)
        content = _PARTICLES.sub("", _NOISE.sub("", content))
        size = len(content)
        if size < cues.min_answer_chars or (_COURTESY.search(clause) and size < 3 * cues.min_answer_chars):
            return FILLER, size
        if cues.deferral is not None and cues.deferral.search(clause):
            return (ANSWER if _WHEN.search(clause) else DEFERRAL), size
        if _QUESTION_END.search(clause) or _ASKS.search(clause):
            return QUESTION, size
        return ANSWER, size

    # ---- customer messages -------------------------------------------------------------------
    def has_content(self, text: str) -> bool:
        """Whether a message says more than greetings and fillers (你好, 在吗, 好的 …)."""
        return self._clause_kind(text)[1] >= self.cues.min_answer_chars

    def _reaction(self, text: str) -> tuple[str, tuple[int, int] | None]:
        cues = self.cues
        if cues.unhappy is not None and (m := cues.unhappy.search(text)):
            return UNHAPPY, (m.start(), m.end())
        if cues.satisfied is not None:
            # acceptance opens a clause (好的，谢谢 / 嗯嗯 可以了): 好的 inside 计划好的事情 is not one
            for clause in _CLAUSE.finditer(text):
                start = clause.start() + _LEADING.match(clause.group(0)).end()
                m = cues.satisfied.match(text, start)
                if m is not None:
                    return SATISFIED, (m.start(), m.end())
        return NEUTRAL, None


def is_question(text: str) -> bool:
    """Whether a customer message asks something (a question mark, 吗, 怎么, 什么时候 …)."""
    return _CUSTOMER_QUESTION.search(text) is not None


def repeats_earlier(text: str, earlier: list[str]) -> bool:
    """The customer says again what they said before (the question was not answered)."""
    core = _NOISE.sub("", text)
    if len(core) < _REPEAT_MIN_CHARS:
        return False
    for before in earlier:
        other = _NOISE.sub("", before)
        if len(other) >= _REPEAT_MIN_CHARS and (core in other or other in core or _overlap(core, other) >= 0.8):
            return True
    return False


def _overlap(a: str, b: str) -> float:
    """Share of the shorter text's character bigrams found in the longer one."""
    if len(a) > len(b):
        a, b = b, a
    grams = {a[i:i + 2] for i in range(len(a) - 1)}
    if not grams:
        return 0.0
    other = {b[i:i + 2] for i in range(len(b) - 1)}
    return len(grams & other) / len(grams)


@dataclass(slots=True)
class Outcome:
    """What the outcome checks need of one conversation (message indices; None: nothing such)."""

    answered_at: int | None  # the agent's last answer (unhappy_at: a reaction to it, or to a later deferral)
    answer_span: tuple[int, int] | None
    unhappy_at: int | None  # the customer's unhappy reaction after that answer (the last one)
    unhappy_span: tuple[int, int] | None
    unhappy_why: str  # "words" / "complaint" / "repeat"
    open_at: int | None  # the customer's last request that nothing answered
    n_customer_requests: int  # customer messages with something to answer
    confirmed_at: int | None = None  # the customer's last acceptance of the answer (谢谢, 好了 …)
    replied_at: int | None = None  # the agent's last answer or deferral: what the customer reacts to

    @property
    def resolved(self) -> bool:
        return self.answered_at is not None and self.unhappy_at is None and self.open_at is None


def analyse(messages, replies: ReplyClassifier, agent_role: str = "agent", customer_role: str = "customer") -> Outcome:
    """The outcome of one conversation from its ordered messages (csqa.core.records.Message)."""
    answered_at = answer_span = None
    replied_at = None  # the agent's last answer or deferral: what the customer reacts to
    kinds: dict[int, str] = {}
    for m in messages:
        if m.role == agent_role:
            kind, span = replies.reply_kind(m.clean)
            kinds[m.index] = kind
            if kind == ANSWER:
                answered_at, answer_span = m.index, span
            if kind in (ANSWER, DEFERRAL) or replied_at is None:
                replied_at = m.index
    unhappy_at = unhappy_span = confirmed_at = None
    why = ""
    earlier: list[str] = []
    requests = 0
    open_at = None
    for m in messages:
        if m.role == customer_role:
            signal = m.complaint
            asks = is_question(m.clean) or (signal is not None and signal.is_complaint)
            if asks or replies.has_content(m.clean):
                requests += 1
            if asks:
                open_at = m.index
            if replied_at is not None and m.index > replied_at:
                reaction, span = replies.reaction(m.clean)
                if reaction == UNHAPPY:
                    unhappy_at, unhappy_span, why = m.index, span, "words"
                elif signal is not None and signal.is_complaint and reaction != SATISFIED:
                    unhappy_at, unhappy_span, why = m.index, None, "complaint"
                elif repeats_earlier(m.clean, earlier):
                    unhappy_at, unhappy_span, why = m.index, None, "repeat"
                elif reaction == SATISFIED:
                    unhappy_at = unhappy_span = None
                    why = ""
                    confirmed_at = m.index
            earlier.append(m.clean)
        elif m.role == agent_role and open_at is not None and kinds.get(m.index) in (ANSWER, DEFERRAL, QUESTION):
            open_at = None  # the agent took the request up
    return Outcome(answered_at, answer_span, unhappy_at, unhappy_span, why, open_at, requests, confirmed_at, replied_at)
