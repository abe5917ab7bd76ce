"""A generated STC-format corpus and a matching SentencePiece tokenizer, so the ``demo`` preset needs no download.

The corpus has to make the Embedding Average *earn* its target (plugins/cpm/docs/reference.md, "The demo preset").
That metric compares sums of token embeddings, so text dominated by a few frequent tokens lets an untrained or barely
trained model score high. Hence:

* Broad vocabulary: 256 topic words in 16 categories, drawn uniformly, so no content token dominates a line, and
  the template words are spread over eight templates.
* Responses are rules of the post a small model can learn: each response restates the post's topic word, uses the
  adjective that belongs to the topic's category, mirrors the speaker (``我`` -> ``你``) and follows the template
  the post was written in. Only the post's slot choices are random; everything after them is predictable, so token
  accuracy and the metric can only rise together.

Texts are whitespace-segmented like the real STC, and the pipeline after ``STC.json`` is the official one. Random
choices use only ``random.Random.random()``, whose sequence Python guarantees across versions, so a seed gives the
same bytes everywhere.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import sentencepiece as spm

from benchbase.errors import BenchbaseError
from benchbase_cpm.cache_folder import open_folder, publish_folder
from benchbase.record.atomic import atomic_write
from benchbase_cpm.stc import STC_FILE, stc_line
from benchbase_cpm.tokenizer import MODEL_FILE, NEWLINE_MARK, SPACE_MARK, CPMTokenizer, pretokenize

if TYPE_CHECKING:
    from benchbase.contract import ProgressFn

#: Bump whenever the generated text or the tokenizer training changes, so cached corpora are rebuilt.
GENERATOR_VERSION = 1


class Category(NamedTuple):
    """Topic words that share a verb (used in posts) and an adjective (used in responses)."""

    name: str
    verb: str
    adjective: str
    topics: tuple[str, ...]


#: One category per row: ``name verb adjective: topic words``.
_CATEGORY_TABLE = """
水果 吃 甜: 苹果 香蕉 葡萄 西瓜 橘子 草莓 芒果 桃子 菠萝 柠檬 荔枝 椰子 石榴 柚子 樱桃 蓝莓
城市 去 热闹: 北京 上海 广州 深圳 杭州 成都 重庆 西安 南京 武汉 天津 苏州 长沙 厦门 青岛 昆明
动物 看 可爱: 熊猫 老虎 狮子 大象 猴子 兔子 企鹅 海豚 狐狸 松鼠 骆驼 孔雀 鹦鹉 斑马 袋鼠 考拉
运动 练 刺激: 足球 篮球 网球 羽毛球 乒乓球 排球 游泳 跑步 滑雪 瑜伽 拳击 登山 滑冰 跳水 击剑 射箭
乐器 学 好听: 钢琴 吉他 小提琴 二胡 古筝 笛子 架子鼓 萨克斯 琵琶 大提琴 口琴 竖琴 手风琴 长笛 小号 扬琴
饮料 喝 解渴: 咖啡 奶茶 可乐 果汁 绿茶 红茶 豆浆 牛奶 啤酒 红酒 雪碧 酸奶 椰汁 柠檬水 矿泉水 乌龙茶
美食 尝 香: 饺子 包子 面条 火锅 烤鸭 米饭 馒头 汉堡 披萨 寿司 炒饭 粽子 月饼 汤圆 馄饨 烧烤
衣服 买 好看: 衬衫 裙子 外套 毛衣 牛仔裤 帽子 围巾 手套 袜子 皮鞋 运动鞋 西装 睡衣 背包 领带 雨衣
花 种 漂亮: 玫瑰 牡丹 荷花 菊花 梅花 兰花 百合 郁金香 茉莉 桂花 樱花 向日葵 杜鹃 水仙 月季 海棠
电器 用 方便: 手机 电脑 相机 电视 冰箱 空调 耳机 平板 音响 洗衣机 微波炉 打印机 键盘 鼠标 手表 吹风机
学科 研究 有用: 数学 物理 化学 历史 地理 英语 音乐 美术 哲学 经济 法律 医学 生物 天文 编程 书法
交通工具 坐 快: 飞机 火车 高铁 地铁 公交 出租车 轮船 自行车 摩托车 电车 汽车 大巴 缆车 游艇 马车 三轮车
景点 游览 壮观: 长城 故宫 西湖 黄山 泰山 长江 黄河 峨眉山 华山 桂林 丽江 敦煌 三亚 九寨沟 张家界 鼓浪屿
节日 过 开心: 春节 元宵节 端午节 中秋节 国庆节 圣诞节 情人节 清明节 重阳节 七夕 新年 儿童节 劳动节 教师节 母亲节 父亲节
蔬菜 炒 健康: 白菜 土豆 西红柿 黄瓜 茄子 萝卜 菠菜 芹菜 南瓜 洋葱 青椒 豆芽 韭菜 冬瓜 莲藕 蘑菇
书 读 精彩: 小说 诗歌 散文 童话 漫画 杂志 报纸 传记 游记 日记 寓言 神话 剧本 词典 百科 绘本
"""
CATEGORIES: tuple[Category, ...] = tuple(
    Category(*head.split(), tuple(topics.split()))
    for head, topics in (row.split(":") for row in _CATEGORY_TABLE.strip().splitlines())
)

TIMES = tuple("今天 昨天 周末 早上 晚上 下午 中午 刚才".split())
#: Who speaks in the post; the reply addresses them by swapping 我 for 你 (我们 -> 你们, 我 朋友 -> 你 朋友).
SPEAKERS = ("我", "我们", "我 朋友", "我 妈妈", "我 同学", "我 哥哥", "我 姐姐", "我 老师")

#: (post, response) templates. Slots: {topic} {verb} {adj} {cat} (from the topic), {time}, {me} and {you} (speaker).
TEMPLATES = (
    ("{time} {me} {verb} 了 {topic}", "{topic} 很 {adj} ！ {you} {time} {verb} 得 开心 吗"),
    ("{me} 最 喜欢 的 {cat} 是 {topic}", "{topic} 确实 {adj} ， 我 也 喜欢 {topic}"),
    ("{time} 想 {verb} {topic} ， 大家 觉得 怎么样", "{verb} {topic} 不错 ， {topic} 真的 很 {adj}"),
    ("听说 {topic} 特别 {adj} ， 是 真的 吗", "是 真的 ！ {topic} 是 最 {adj} 的 {cat}"),
    ("{me} 说 {topic} 一点 也 不 {adj}", "不 会 吧 ？ {topic} 明明 很 {adj} 啊"),
    ("{time} 约 了 {me} 一起 {verb} {topic}", "真 羡慕 。 下次 也 带 我 {verb} {topic} 吧"),
    ("有 人 {verb} 过 {topic} 吗", "{verb} 过 ！ {topic} 挺 {adj} 的 ， 推荐 大家 试试"),
    ("{cat} 里面 {me} 只 {verb} {topic}", "只 {verb} {topic} 吗 ？ 其他 {cat} 也 很 {adj}"),
)


@dataclass(frozen=True)
class DemoParams:
    """What the generated corpus and tokenizer depend on (with :data:`GENERATOR_VERSION`)."""

    train_pairs: int = 20_000
    valid_pairs: int = 500
    seed: int = 2024
    #: Upper bound: the corpus supports fewer pieces, and the trainer stops where it runs out.
    vocab_size: int = 2000

    def fingerprint(self) -> str:
        text = json.dumps({"generator_version": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class DemoCorpus:
    """The cached corpus: ``STC.json`` and the tokenizer directory (holding ``chinese_vocab.model``)."""

    stc_json: Path
    tokenizer_dir: Path
    cache_hit: bool
    facts: dict[str, Any]

    @property
    def tokenizer_model(self) -> Path:
        return self.tokenizer_dir / MODEL_FILE


def _pick(rng: random.Random, items: Sequence[Any]) -> Any:
    # random() is the one method whose sequence Python promises never to change; choice() is not promised.
    return items[int(rng.random() * len(items))]


def generate_pair(rng: random.Random) -> tuple[str, str]:
    """One (post, response) pair, whitespace-segmented."""
    category = _pick(rng, CATEGORIES)
    me = _pick(rng, SPEAKERS)
    post, response = _pick(rng, TEMPLATES)
    slots = {
        "topic": _pick(rng, category.topics),
        "verb": category.verb,
        "adj": category.adjective,
        "cat": category.name,
        "time": _pick(rng, TIMES),
        "me": me,
        "you": me.replace("我", "你", 1),
    }
    return post.format(**slots), response.format(**slots)


def generate_stc(params: DemoParams) -> dict[str, list[list[str]]]:
    """The corpus in ``STC.json`` shape, both splits drawn from the same rules and distribution.

    A valid pair may also occur in train (60% of the default 500 do: the low-variety templates repeat), as
    duplicates do in real STC. Recall cannot stand in for learning: the response is a function of the post, so
    there is nothing pair-specific to recall, and a demo run trains on a few thousand samples of 41,472 possible
    pairs.
    """
    rng = random.Random(params.seed)
    train = [list(generate_pair(rng)) for _ in range(params.train_pairs)]
    valid = [list(generate_pair(rng)) for _ in range(params.valid_pairs)]
    return {"train": train, "valid": valid}


def train_tokenizer(lines: Iterable[str], vocab_size: int) -> bytes:
    """A SentencePiece model for the CPM scheme, trained on ``lines`` as the CPM tokenizer presents them.

    BPE, although CPM's model is unigram: on this corpus sentencepiece 0.2's unigram trainer seeds almost nothing
    but single characters (measured: 568 pieces, ``领带`` -> ``▁ 领 带``), so ``▁`` alone would be about a third of all
    tokens, the frequent-token domination this corpus exists to avoid. BPE learns whole words (``▁领带``), as the
    real vocabulary has them.

    Ids 0..7 mirror ``chinese_vocab.model``: ``<unk>`` ``<s>`` ``</s>`` ``▃`` ``<sep>`` ``<pad>`` ``<mask>`` ``<eod>``.
    SentencePiece places control symbols before user-defined ones, which cannot reproduce the real model's mix
    (``<sep>``/``<mask>`` control, ``▃``/``<eod>`` ordinary), so all four are user-defined; ``<sep>`` and
    ``<mask>`` never occur in the text, so encoding is unaffected. ``▂`` (a space) gets id 8 so it always exists.
    """
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=(pretokenize(line) for line in lines),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=5,
        user_defined_symbols=[NEWLINE_MARK, "<sep>", "<mask>", "<eod>", SPACE_MARK],
        num_threads=1,
        minloglevel=2,  # the trainer's pages of progress log are noise for a user
    )
    return model.getvalue()


def build_demo_corpus(
    cache_dir: Path, params: DemoParams = DemoParams(), progress: ProgressFn | None = None
) -> DemoCorpus:
    """Generate the corpus and train its tokenizer into ``cache_dir/demo/corpus-<fingerprint>/``, once."""
    for name, value in asdict(params).items():
        if not isinstance(value, int) or value < 1:
            raise BenchbaseError(f"demo parameter {name} must be a positive integer, got {value!r}", "fix the value")
    target = Path(cache_dir) / "demo" / f"corpus-{params.fingerprint()[:16]}"
    cached = open_folder(target, {"vocab_size": int, "tokenizer_sha256": str})
    if cached is not None:
        return DemoCorpus(target / STC_FILE, target, True, cached)

    started = time.perf_counter()
    if progress:
        progress("generate demo corpus", 0, params.train_pairs + params.valid_pairs)
    stc = generate_stc(params)
    if progress:
        progress("train demo tokenizer", 0, None)
    model = train_tokenizer((stc_line(post, response) for post, response in stc["train"]), params.vocab_size)

    building = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        stc_bytes = json.dumps(stc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        atomic_write(building / STC_FILE, lambda handle: handle.write(stc_bytes))
        atomic_write(building / MODEL_FILE, lambda handle: handle.write(model))
        tokenizer = CPMTokenizer(building / MODEL_FILE)
        facts = {
            "generator_version": GENERATOR_VERSION,
            "params": asdict(params),
            "stc_sha256": hashlib.sha256(stc_bytes).hexdigest(),
            "tokenizer_sha256": tokenizer.model_sha256,
            "vocab_size": tokenizer.vocab_size,
            "build_s": round(time.perf_counter() - started, 3),
        }
        publish_folder(building, target, facts)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return DemoCorpus(target / STC_FILE, target, False, facts)
