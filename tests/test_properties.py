"""Property tests (hypothesis) on random Unicode texts and targets (issue 14, acceptance): the tokens of a `Target`
tile the text, offsets are monotone, `Attribution.words()` covers the text and keeps the score mass, and
`Attribution.save`/`load` round-trips exactly.

Texts mix ASCII, CJK, kana, Arabic and Hebrew (with their points), Devanagari, Thai, emoji (ZWJ sequences,
skin tones, flags, keycaps), combining marks, and spaces, tabs and newlines; some are arbitrary UTF-8 strings,
some sentences of words from those scripts. Tokenizers: the real GPT-2 byte-level BPE (conftest), the shipped
toy GPT-2's word-level one (offsets exclude whitespace), and Gemma 3's SentencePiece-style BPE with byte fallback
and a BOS token when its converted cache exists (skipped otherwise). Runs are derandomized: the same examples
every time, no example database."""
import math, os, tempfile
from dataclasses import fields
import numpy as np, pytest
from hypothesis import given, settings, strategies as st, HealthCheck, example

from heta.targets import make_target
from heta.attribution import Attribution, COMPONENTS

PROP = settings(max_examples=int(os.environ.get("HETA_PROP_EXAMPLES", 250)), deadline=None, derandomize=True,
                database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# ---------------------------------------------------------------------------------------------- strategies
def _chars(lo, hi): return st.characters(min_codepoint=lo, max_codepoint=hi)
ASCII = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789.,;:!?'\"()-_/<>&#@")
SPACE = st.sampled_from([" ", " ", " ", "\n", "\t", "  ", "\r\n", "\n\n", "\u3000", "\u00a0", "\u2009", "\u2028", "\x85", "\u200b"])
SCRIPTS = st.one_of(
    _chars(0x4E00, 0x9FFF), _chars(0x3041, 0x30FF), st.sampled_from("。、「」！？"),      # CJK, kana, CJK punctuation
    _chars(0x0621, 0x064A), _chars(0x064B, 0x0652),                                     # Arabic letters and harakat
    _chars(0x05D0, 0x05EA), _chars(0x05B0, 0x05BC),                                     # Hebrew letters and points
    _chars(0x0905, 0x0939), _chars(0x0E01, 0x0E30), st.sampled_from("éßñøçÅ"),          # Devanagari, Thai, Latin-1
    _chars(0x0300, 0x036F),                                                             # combining marks
    _chars(0x1F300, 0x1F64F), _chars(0x1F680, 0x1F6FF),                                 # emoji
    st.sampled_from(["👩\u200d👩\u200d👧", "👍🏽", "🇫🇷", "1\ufe0f\u20e3", "❤\ufe0f", "e\u0301", "\u200d"]))
ANY = st.characters(codec="utf-8")   # any scalar value, controls and unassigned ones included
CHAR = st.one_of(ASCII, SPACE, SCRIPTS, ANY)
WORDS = st.sampled_from(["Cam", "ordered", "a", "pizza", "slice", "cut", "你好", "世界", "中文分词很难", "こんにちは",
                         "مرحبا", "بالعالم", "שָׁלוֹם", "עולם", "नमस्ते", "สวัสดี", "café", "naïve", "Ελλάδα",
                         "Москва", "🍕", "👩\u200d👩\u200d👧", "👍🏽", "e\u0301clair", "12,5", "—", "...", "\"ok\""])
def strings(pieces, min_size=1, max_size=40): return st.lists(pieces, min_size=min_size, max_size=max_size).map("".join)
SENTENCE = st.lists(st.tuples(st.one_of(WORDS, strings(SCRIPTS, max_size=4)), SPACE | st.just("")),
                    min_size=1, max_size=12).map(lambda ws: "".join(w + s for w, s in ws))
TEXT = st.one_of(strings(CHAR), SENTENCE, strings(SCRIPTS, max_size=20))
TARGET = st.one_of(st.sampled_from([" slice", "\n", "。", " 🍕", "za", " שלום", " مرحبا", "中", " x y"]),
                   WORDS.map(lambda w: " " + w), strings(CHAR, max_size=8))

# ---------------------------------------------------------------------------------------------- tokenizers
@pytest.fixture(scope="module", params=["gpt2", "toy", "gemma"])
def tk(request, gpt2_tok):
    "(name, tokenizer, strict): strict tokenizers keep every character, so their tokens tile text + target exactly."
    from heta.models import toy_gpt2_path, cache_dir
    from transformers import AutoTokenizer
    if request.param == "gpt2": return "gpt2", gpt2_tok, True
    if request.param == "toy": return "toy", AutoTokenizer.from_pretrained(toy_gpt2_path()), False
    path = cache_dir() / "gemma3-270m"
    if not (path / "tokenizer.json").exists(): pytest.skip("Gemma 3's converted tokenizer is not cached")
    return "gemma", AutoTokenizer.from_pretrained(path), True

def _target(tok, text, target):
    "make_target, or None when it refuses with a ValueError that says something."
    try: return make_target(tok, text, target=target)
    except ValueError as e:
        assert str(e).strip(), "a refusal without a message"
        return None

def _special(tok, t, i): return int(t.input_ids[i]) in set(tok.all_special_ids)

# ---------------------------------------------------------------------------------------------- (a) + (b)
@PROP
@given(text=TEXT, target=TARGET)
@example(text="He cut a ", target="slice").via("issue 14 item 3")
@example(text="Cam ordered a piz", target="za").via("issue 14 item 3")
@example(text="你好世界", target="。").via("split characters")
@example(text="Hello 👩\u200d👩\u200d👧 family", target=" 🍕").via("ZWJ sequence")
@example(text="שָׁלוֹם עולם", target=" טוב").via("Hebrew points")
def test_tokens_tile_text_and_offsets_are_monotone(tk, text, target):
    name, tok, strict = tk
    t = _target(tok, text, target)
    if t is None: return
    full = text + target
    assert t.text == full and len(t.tokens) == len(t.offsets) == len(t.input_ids)
    assert 1 <= t.target_pos < len(t.tokens) and t.n_steps == len(t.tokens) - t.target_pos
    # (b) offsets: inside the text, starts and ends never go back
    for s, e in t.offsets: assert 0 <= s <= e <= len(full), (s, e, len(full))
    for (s0, e0), (s1, e1) in zip(t.offsets, t.offsets[1:]): assert s0 <= s1 and e0 <= e1, t.offsets
    # the target's tokens start at or after the cut, the context's end at or before it
    cut = len(text)
    assert all(e <= cut for s, e in t.context_offsets if e > s) and t.offsets[t.target_pos][0] >= cut
    # (a) tiling: only special tokens (BOS) lack a span, and the spanned tokens' texts concatenate to the text
    for i, (s, e) in enumerate(t.offsets):
        if e <= s: assert _special(tok, t, i), f"token {i} ({t.tokens[i]!r}) has no span and is not special"
    joined = "".join(tk_ for tk_, (s, e) in zip(t.tokens, t.offsets) if e > s)
    if strict:
        assert joined == full
        assert "".join(tk_ for tk_, (s, e) in zip(t.context_tokens, t.context_offsets) if e > s) == text
        assert t.target_str == target
    else:   # a whitespace-splitting tokenizer drops trailing whitespace, nothing else
        assert full.startswith(joined) and not full[len(joined):].strip(), (joined, full)

# ---------------------------------------------------------------------------------------------- (c)
def _record(t, scores, **kw):
    C = t.target_pos
    return Attribution(text=t.text, tokens=t.context_tokens, offsets=t.context_offsets, scores=scores,
                       target={"text": t.target_str, "ids": t.target_ids, "pos": C, "id": t.target_id}, **kw)

def _check_words(a, row=0):
    s = np.asarray(a.scores[row] if a.is_matrix else a.scores, dtype=np.float64)
    W = a.words(row)
    assert W, "no words"
    for w, x, y, v in W: assert 0 <= x <= y <= len(a.text) and isinstance(w, str) and math.isfinite(v)
    for (w0, a0, b0, _), (w1, a1, b1, _) in zip(W, W[1:]):
        assert b0 <= a1, f"words overlap or are out of order: {(w0, a0, b0)} then {(w1, a1, b1)}"
    covered = np.zeros(len(a.text), dtype=bool)
    for w, x, y, v in W: covered[x:y] = True
    end = max(e for s, e in a.offsets)
    missing = [(i, a.text[i]) for i in range(end) if not covered[i] and not a.text[i].isspace()]
    assert not missing, f"characters in no word: {missing[:5]}"
    for w, x, y, v in W:   # a word names the text it spans (special tokens like BOS have no span)
        if y > x: assert w.strip() == a.text[x:y].strip(), (w, a.text[x:y])
    assert sum(v for *_, v in W) == pytest.approx(s.sum(), rel=1e-6, abs=1e-6 * (np.abs(s).sum() + 1))

SCORE = st.floats(-1e3, 1e3, width=32, allow_subnormal=False)

@PROP
@given(text=TEXT, target=TARGET, data=st.data())
@example(text="你好世界，中文分词很难。", target="\n", data=None).via("issue 14 item 4: a Chinese sentence")
@example(text="日\u3000本 x", target=" y", data=None).via("multi-byte whitespace split into byte pieces")
def test_words_cover_the_context_and_keep_the_scores(tk, text, target, data):
    name, tok, strict = tk
    t = _target(tok, text, target)
    if t is None: return
    C = t.target_pos
    draw = (lambda n: data.draw(st.lists(SCORE, min_size=n, max_size=n))) if data is not None else \
           (lambda n: list(np.linspace(-1, 2, n)))
    _check_words(_record(t, np.array(draw(C), dtype=np.float32)))
    # a generation-like matrix record: one row per target, words() of each row
    m = _record(t, np.array([draw(C), draw(C)], dtype=np.float32), targets=[{"text": "a", "id": 0, "pos": C}] * 2)
    _check_words(m, 0); _check_words(m, 1)

# ---------------------------------------------------------------------------------------------- (d)
F32 = st.floats(width=32)   # nan, +-inf, -0.0, subnormals, extremes

def _same_array(x, y):
    if x is None or y is None: return x is None and y is None
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.dtype != y.dtype: return False
    nx, ny = np.isnan(x), np.isnan(y)
    return bool((nx == ny).all() and (x[~nx].view(np.uint32) == y[~ny].view(np.uint32)).all())

@settings(PROP, max_examples=max(1, PROP.max_examples // 2))   # each example writes and reads a file
@given(text=TEXT, target=TARGET, matrix=st.booleans(), parts=st.sets(st.sampled_from(COMPONENTS[1:])),
       settings_=st.dictionaries(st.text(max_size=6), st.one_of(st.integers(-5, 5), st.text(max_size=6), st.booleans(),
                                                                 st.none(), st.floats(allow_nan=False))),
       model=st.text(max_size=12), data=st.data())
def test_save_load_round_trips(gpt2_tok, text, target, matrix, parts, settings_, model, data):
    t = _target(gpt2_tok, text, target)
    if t is None: return
    C = t.target_pos
    shape = (2, C) if matrix else (C,)
    arr = lambda: np.array(data.draw(st.lists(F32, min_size=C * (2 if matrix else 1), max_size=C * (2 if matrix else 1))),
                           dtype=np.float32).reshape(shape)
    extra = dict(targets=[{"text": t.tokens[-1], "id": int(t.input_ids[-1]), "pos": C}] * 2) if matrix else {}
    a = _record(t, arr(), settings=settings_, model=model, method="heta", seconds=1.5,
                **{k: arr() for k in parts}, **extra)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sub", "a.json")
        a.save(path)
        b = Attribution.load(path)
    for f in fields(Attribution):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name in COMPONENTS: assert _same_array(x, y), (f.name, x, y)
        else: assert x == y and type(x) is type(y), (f.name, x, y)
    assert b.tokens == t.context_tokens and b.offsets == [tuple(o) for o in t.context_offsets] and b.text == t.text
