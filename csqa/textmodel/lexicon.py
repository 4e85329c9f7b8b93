"""A hand-written lexicon of evaluation and aspect words: knowledge the training corpus cannot spell out.

A written corpus of sixteen thousand texts still misses everyday words: 难吃 occurred twice, so a model
learnt from it called 「真的很难吃」 no complaint. The lexicon gives the model a handful of features that
generalize — NEG (negative evaluation: 难吃, 垃圾, 差劲, 坑, 忽悠 …), POS (不错, 好吃, 满意 …) and one tag per
complaint aspect (ASP_logistics: 快递, 骑手, 签收 …) — each counted where its words occur, with negation
flipping the polarity (不好吃 → NEG, 不贵 → POS). The words were written for csqa from general knowledge of
the language and the taxonomy (corpora/complaints/TAXONOMY.md), not taken from any dataset.

The lexicon a model was trained with is saved inside the model's JSON (csqa.textmodel.files), so a model
always scores with its own lexicon.
"""
from __future__ import annotations

NEGATORS = ("不", "没", "没有", "别", "无", "毫无", "并不", "一点也不", "一点都不")
_NEGATION_REACH = 3  # characters between a negator and the word it turns

DEFAULT_LEXICON: dict[str, tuple[str, ...]] = {
    "NEG": (
        "差", "太差", "很差", "极差", "真差", "差劲", "差评", "垃圾", "辣鸡", "烂", "破", "坏了", "坏的", "坏掉", "损坏", "不好",
        "不行", "不怎么样", "一般般", "失望", "太失望", "后悔", "恶心", "糟糕", "糟心", "无语", "呵呵", "气死", "生气", "愤怒",
        "郁闷", "崩溃", "心塞", "闹心", "坑", "坑爹", "坑人", "被坑", "骗", "骗人", "骗子", "忽悠", "欺骗", "虚假", "假货",
        "山寨", "劣质", "粗糙", "掉色", "起球", "开线", "破损", "漏水", "漏液", "裂开", "碎了", "臭", "异味", "怪味", "太咸",
        "太淡", "太油", "油腻", "难吃", "难喝", "难闻", "难用", "难看", "不好吃", "凉了", "冷了", "太慢", "很慢", "超慢", "慢死",
        "迟迟", "拖延", "一拖再拖", "敷衍", "推诿", "踢皮球", "没人管", "没人理", "不理人", "态度差", "态度恶劣", "不耐烦",
        "太贵", "坑钱", "乱收费", "乱扣", "多扣", "扣错", "不满意", "不满", "不值", "不值得", "不推荐", "别买", "慎买",
        "慎点", "避雷", "踩雷", "翻车", "吐槽", "故障", "毛病", "瑕疵", "卡顿", "闪退", "死机", "黑屏", "断网", "掉线",
        "没信号", "少发", "漏发", "错发", "发错", "送错", "不符", "不一致", "货不对板", "缩水", "变质", "过期", "发霉",
        "有虫", "异物", "退货", "退款", "投诉", "维权", "曝光", "举报", "赔偿", "索赔", "说法", "算了", "认倒霉", "无奈",
        "无力吐槽", "服了", "醉了", "离谱", "过分", "太过分", "不靠谱", "不负责", "没用", "白买", "浪费", "上当", "受骗",
        "还没到", "还没收到", "还没发货", "还没退", "怎么还没", "到底", "凭什么", "为什么", "搞什么",
    ),
    "POS": (
        "好", "很好", "挺好", "真好", "不错", "挺不错", "满意", "很满意", "喜欢", "好吃", "好喝", "好用", "好看", "推荐", "值",
        "值得", "划算", "实惠", "便宜", "很快", "及时", "准时", "专业", "耐心", "热情", "贴心", "周到", "完美", "赞", "棒",
        "给力", "五星", "好评", "点赞", "谢谢", "感谢", "舒服", "新鲜", "正品", "结实", "方便", "漂亮", "惊喜", "超值",
        "物美价廉", "放心", "靠谱", "细心", "认真", "速度快", "回购", "还会再来", "没问题", "解决了", "已解决",
    ),
    "ASP_logistics": (
        "快递", "物流", "配送", "送货", "发货", "签收", "派送", "快递员", "快递小哥", "骑手", "送餐", "外卖小哥", "到货",
        "运输", "包裹", "驿站", "自提点", "安装师傅", "上门", "顺丰", "中通", "圆通", "韵达", "申通", "京东物流", "邮政",
        "送到", "送达", "签收了", "没送", "不送", "丢件", "压坏", "摔坏",
    ),
    "ASP_payment": (
        "退款", "扣费", "扣钱", "扣款", "话费", "账单", "收费", "费用", "到账", "发票", "押金", "余额", "支付", "付款", "充值",
        "手续费", "计费", "流量费", "多收", "乱扣", "白条", "信用卡", "银行卡", "保证金", "运费",
    ),
    "ASP_service": (
        "客服", "态度", "服务", "售后", "店家", "商家", "卖家", "回复", "不回", "不理", "推诿", "工作人员", "营业员", "营业厅",
        "装维", "小二", "专员", "敷衍", "承诺", "答应", "说好的", "转接", "投诉电话", "处理",
    ),
    "ASP_system": (
        "系统", "app", "APP", "网站", "官网", "登录", "登陆", "账号", "账户", "闪退", "网络", "信号", "宽带", "断网", "网速",
        "页面", "打不开", "服务器", "卡顿", "无法下单", "付不了款", "验证码", "更新", "升级", "bug", "BUG", "客户端",
    ),
    "ASP_price": (
        "价格", "降价", "价保", "保价", "优惠券", "优惠", "满减", "活动", "赠品", "原价", "涨价", "差价", "贵", "便宜", "划算",
        "宣传", "虚假宣传", "标价", "促销", "折扣", "券", "红包", "性价比",
    ),
    "ASP_product": (
        "质量", "做工", "尺码", "颜色", "色差", "味道", "口感", "材质", "面料", "屏幕", "电池", "功能", "瑕疵", "破损", "坏了",
        "不能用", "用不了", "效果", "包装", "房间", "卫生", "设施", "分量", "菜品", "印刷", "内容",
    ),
    # not evaluations: consumed so that their parts (好, 差, 不好) do not count
    "SKIP": (
        "不好意思", "差不多", "差价", "差额", "相差", "好不好", "好几", "好久", "好像", "正好", "只好", "最好", "好的", "好吧",
        "好嘞", "好滴", "好哒", "你好", "您好", "好友", "好处", "好评返现", "不差钱", "坏处", "破费", "破解", "谢谢您的耐心",
    ),
    "ASP_other": (
        "骚扰", "短信", "推销", "隐私", "泄露", "信息泄露", "垃圾短信", "政策", "规定", "霸王条款", "条款", "实名", "封号",
    ),
}


def lexicon_entries(lexicon: dict[str, tuple[str, ...]] | None = None) -> dict[str, str]:
    """{word: tag}; a word listed under two tags keeps the first."""
    out: dict[str, str] = {}
    for tag, words in (lexicon or DEFAULT_LEXICON).items():
        for w in words:
            out.setdefault(w, tag)
    return out


class LexiconTagger:
    """`tagger(text)` -> the tags of the lexicon words in a normalized text, negation flipping NEG/POS.

    Longest words win where words overlap (不好吃 over 好吃 over 好), one Aho-Corasick pass per text."""

    def __init__(self, entries: dict[str, str]):
        import ahocorasick

        self.entries = dict(entries)
        self._automaton = ahocorasick.Automaton()
        for word, tag in self.entries.items():
            self._automaton.add_word(word.lower(), (len(word), tag))
        if self.entries:
            self._automaton.make_automaton()

    def __call__(self, text: str) -> list[str]:
        if not self.entries or not text:
            return []
        low = text.lower()
        found = []
        for end, (n, tag) in self._automaton.iter(low):
            found.append((end - n + 1, end + 1, tag))
        found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
        tags, covered = [], -1
        for start, end, tag in found:
            if start < covered:
                continue  # inside a longer word already counted
            covered = end
            if tag == "SKIP":
                continue
            if tag in ("NEG", "POS") and _negated(low, start):
                tag = "POS" if tag == "NEG" else "NEG"
            tags.append(tag)
        return tags

    # scikit-learn clones vectorizers and compares parameters: equal taggers are equal
    def __eq__(self, other) -> bool:
        return isinstance(other, LexiconTagger) and other.entries == self.entries

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.entries.items())))


def _negated(text: str, start: int) -> bool:
    window = text[max(0, start - _NEGATION_REACH - 2):start]
    return any(window.endswith(n) or n in window[-_NEGATION_REACH:] for n in NEGATORS)
