"""Datasets: the curated dev/test split, the long-range set (generation, validation, which cases a model keeps)
and the human-rationale loader (bad lines reported by number and skipped)."""
import json
from types import SimpleNamespace
import pytest, torch
from heta.data import (RELATIONS, CURATED_SPLITS, LONGRANGE_CATEGORIES, LONGRANGE_SPLITS, CLAUSES, read_jsonl, curated_path,
                       split_items, generate_longrange, make_longrange_item, validate_longrange, longrange_path,
                       longrange_check, longrange_case, read_rationales, rationale_item, rationale_case, item_case)
from heta.evaluate import dataset_items, prepare_cases

# --- curated dev/test split ------------------------------------------------------------------------------------
def test_curated_split_is_disjoint_complete_and_balanced():
    dev, test = CURATED_SPLITS["dev"], CURATED_SPLITS["test"]
    assert not set(dev) & set(test) and sorted(dev + test) == sorted(r["name"] for r in RELATIONS)
    fam = {r["name"]: {"word": "invented", "number": "digits", "code": "digits"}.get(r["kind"], "noun") for r in RELATIONS}
    for f in set(fam.values()): assert abs(sum(fam[r] == f for r in dev) - sum(fam[r] == f for r in test)) <= 1
    items = read_jsonl(curated_path())
    d, t = split_items(items, CURATED_SPLITS, "dev", "relation"), split_items(items, CURATED_SPLITS, "test", "relation")
    assert len(d) == len(t) == 120 and not {i["id"] for i in d} & {i["id"] for i in t}
    assert [i["id"] for i in dataset_items("curated:dev")] == [i["id"] for i in d]
    assert len(dataset_items("curated")) == 240

def test_dataset_names_and_errors(tmp_path):
    assert {i["category"] for i in dataset_items("longrange:test")} == set(LONGRANGE_SPLITS["test"])
    assert len(dataset_items("longrange")) == len(dataset_items("longrange:dev")) + len(dataset_items("longrange:test"))
    assert len(dataset_items("curated:test", limit=7)) == 7
    with pytest.raises(ValueError, match="valid forms are .*rationales:FILE"): dataset_items("curated-dev")
    with pytest.raises(ValueError, match="unknown split 'val' of longrange"): dataset_items("longrange:val")
    with pytest.raises(ValueError, match="needs an existing JSON-lines file"): dataset_items("rationales:")
    with pytest.raises(ValueError, match="needs an existing JSON-lines file"): dataset_items(f"rationales:{tmp_path}/none.jsonl")
    with pytest.raises(ValueError, match="unknown split 'train'"): split_items([], CURATED_SPLITS, "train", "relation")

# --- long-range set: generation and validation -----------------------------------------------------------------
def test_longrange_shipped_equals_generator_and_is_valid():
    lr = generate_longrange()
    assert read_jsonl(longrange_path(), validate=validate_longrange) == lr == generate_longrange()
    assert len({i["id"] for i in lr}) == len(lr)
    assert {i["category"] for i in lr} == set(LONGRANGE_CATEGORIES) and 5 <= len(LONGRANGE_CATEGORIES) <= 6
    assert not set(LONGRANGE_SPLITS["dev"]) & set(LONGRANGE_SPLITS["test"])
    assert sorted(LONGRANGE_SPLITS["dev"] + LONGRANGE_SPLITS["test"]) == sorted(LONGRANGE_CATEGORIES)
    pairs = {(c, a, " " + b) for c, s in LONGRANGE_CATEGORIES.items() for a, b in s["pairs"]}
    for i in lr:
        (a0, a1), (c0, c1), text = i["antecedent_span"], i["clause_span"], i["text"]
        assert (i["category"], text[a0:a1], i["target"]) in pairs          # the antecedent is the pair's first word
        clause = text[c0:c1]
        assert clause in CLAUSES or clause + "," in CLAUSES
        assert a1 <= c0 < c1 < len(text) and i["short_text"] == text[:c0] + text[c1:]
        assert "  " not in text and ",," not in text and not text.endswith(" ")

def test_longrange_item_from_template():
    it = make_longrange_item("capital", "If you travel to {a}{clause}, you should visit its capital,", "Norway", "Oslo",
                             ", as my neighbour told me at the bus stop,", "x")
    assert it["text"] == "If you travel to Norway, as my neighbour told me at the bus stop, you should visit its capital,"
    assert it["short_text"] == "If you travel to Norway, you should visit its capital," and it["target"] == " Oslo"
    assert it["text"][slice(*it["antecedent_span"])] == "Norway"
    assert it["text"][slice(*it["clause_span"])] == ", as my neighbour told me at the bus stop"
    assert validate_longrange(it) is it

@pytest.mark.parametrize("change, msg", [
    (dict(clause_span=[23, 999]), "not a span"), (dict(clause_span=[23]), "not a span"), (dict(antecedent_span=[-1, 3]), "not a span"),
    (dict(antecedent_span=[17, 30]), "must end before the clause"),
    (dict(short_text="If you travel to Norway you should visit its capital,"), "short_text is not"),
    (dict(target="Oslo"), "leading space"), (dict(target=" Oslo city"), "leading space")])
def test_longrange_validation_errors(change, msg):
    it = make_longrange_item("capital", "If you travel to {a}{clause}, you should visit its capital,", "Norway", "Oslo",
                             " (nobody at the meeting seemed to care)", "x")
    with pytest.raises(ValueError, match=msg): validate_longrange({**it, **change})

def test_longrange_validation_more_errors():
    tpl = "If you travel to {a}{clause}, you should visit its capital,"
    with pytest.raises(ValueError, match="names the antecedent or the target"):
        validate_longrange(make_longrange_item("capital", tpl, "Norway", "Oslo", " (the Oslo train was late)", "x"))
    it = make_longrange_item("capital", tpl, "Norway", "Oslo", " (the train was late)", "x")
    with pytest.raises(ValueError, match="the clause ends the text"):
        validate_longrange({**it, "clause_span": [23, len(it["text"])], "short_text": it["text"][:23]})
    with pytest.raises(ValueError, match="missing fields"): validate_longrange({"id": "x", "text": "a b"})

# --- long-range set: which cases a model keeps -----------------------------------------------------------------
class Scripted(torch.nn.Module):
    "A stand-in LM: its greedy next token is `long` for inputs of more than `cut` tokens, `short` otherwise."
    def __init__(self, short:int, long:int, cut:int, vocab:int):
        super().__init__(); self.short, self.long, self.cut, self.vocab, self.device = short, long, cut, vocab, torch.device("cpu")
    def forward(self, input_ids, **kw):
        logits = torch.zeros(*input_ids.shape, self.vocab)
        logits[..., self.long if input_ids.shape[1] > self.cut else self.short] = 1
        return SimpleNamespace(logits=logits)

@pytest.fixture(scope="module")
def norway(gpt2_tok):
    it = make_longrange_item("capital", "If you travel to {a}{clause}, you should visit its capital,", "Norway", "Oslo",
                             " (the printer in the hall was broken again)", "lr-x")
    n_short = len(gpt2_tok(it["short_text"]).input_ids)
    return it, gpt2_tok(" Oslo").input_ids[0], n_short

def test_longrange_case_kept_only_when_predicted_with_and_without_clause(gpt2_tok, norway):
    it, oslo, n_short = norway
    V = len(gpt2_tok)
    both = Scripted(oslo, oslo, n_short, V)
    c = longrange_case(both, gpt2_tok, it)
    assert c is not None and c.id == "lr-x" and c.target.target_str == " Oslo"
    assert "".join(c.target.tokens[i] for i in c.gold).strip() == "Norway" and c.evidence == c.gold
    assert "".join(c.target.tokens[i] for i in c.distractor) in (" (the printer in the hall was broken again)",
                                                              " (the printer in the hall was broken again),")  # GPT-2 has one "),"
    assert not set(c.gold) & set(c.distractor) and c.generated_before == 0
    assert longrange_case(Scripted(oslo, oslo + 1, n_short, V), gpt2_tok, it) is None     # right only without the clause
    assert longrange_case(Scripted(oslo + 1, oslo, n_short, V), gpt2_tok, it) is None     # right only with it
    r = longrange_check(Scripted(oslo + 1, oslo, n_short, V), gpt2_tok, it)
    assert (r["with_clause"], r["without_clause"]) == (oslo, oslo + 1)
    assert item_case(both, gpt2_tok, it).gold == c.gold                                 # the runner's entry point

def test_longrange_multi_token_target_is_dropped(gpt2_tok, norway):
    it, oslo, n_short = norway
    multi = {**it, "target": " Oslovakia"}
    assert len(gpt2_tok(" Oslovakia").input_ids) > 1
    assert longrange_check(Scripted(oslo, oslo, n_short, len(gpt2_tok)), gpt2_tok, multi)["target"] is None
    assert longrange_case(Scripted(oslo, oslo, n_short, len(gpt2_tok)), gpt2_tok, multi) is None

def test_longrange_on_tiny_random_model_and_cache(tmp_path):
    from heta.models import load_model
    tiny, tok = load_model("tiny-gpt2")
    cache = tmp_path / "cases.jsonl"
    cases, dropped = prepare_cases(tiny, tok, "longrange:dev", limit=6, cache=cache)
    assert len(cases) + len(dropped) == 6
    for c in cases: assert c.gold == c.evidence and c.distractor
    again = prepare_cases(tiny, tok, "longrange:dev", limit=6, cache=cache)   # read back, not recomputed
    assert again[1] == dropped and len(cache.read_text().splitlines()) == 6

# --- human rationales ------------------------------------------------------------------------------------------
TEXTS = ["Mara packed her paints and brushes, walked down to the lake and set up her easel. By noon she had finished a small painting",
         "The kettle whistled, so Joe poured the boiling water over the dried leaves and waited for his tea"]
def _sp(text, *words): return [[text.index(w), text.index(w) + len(w)] for w in words]

def test_rationale_loader_reports_bad_lines(tmp_path):
    lines = [json.dumps({"text": TEXTS[0], "rationale": _sp(TEXTS[0], "paints", "easel")}),   # 1 good
             "{not json",                                                                         # 2
             json.dumps({"rationale": [[0, 3]]}),                                                 # 3 no text
             json.dumps({"text": TEXTS[1]}),                                                      # 4 no rationale
             json.dumps({"text": TEXTS[1], "rationale": [[0, 500]]}),                            # 5 out of range
             json.dumps({"text": TEXTS[1], "rationale": _sp(TEXTS[1], "his tea")}),             # 6 inside the target word
             "",                                                                                  # 7 blank: ignored
             json.dumps({"text": " \n ", "rationale": [[0, 1]]}),                                # 8 empty text
             json.dumps({"text": "tea ", "rationale": [[0, 1]]}),                                # 9 one word
             json.dumps({"text": TEXTS[1], "rationale": []}),                                    # 10 empty rationale
             json.dumps({"text": TEXTS[1], "rationale": [[3, "x"]]}),                            # 11 not ints
             json.dumps([1, 2]),                                                                  # 12 not an object
             json.dumps({"text": TEXTS[1] + "  ", "rationale": _sp(TEXTS[1], "kettle", "leaves")})]  # 13 good
    p = tmp_path / "notes.jsonl"; p.write_text("\n".join(lines) + "\n")
    msgs = []
    items = read_rationales(p, warn=msgs.append)
    assert [i["id"] for i in items] == ["notes-1", "notes-13"]
    got = {int(m.split(": skipped")[0].rsplit(":", 1)[1]): m for m in msgs}
    assert sorted(got) == [2, 3, 4, 5, 6, 8, 9, 10, 11, 12]
    for n, what in {3: "missing fields ['text']", 4: "missing fields ['rationale']", 5: "out of range", 6: "reaches into the target word",
                    8: "the text is empty", 9: "one word", 10: "the rationale is empty", 11: "not a pair", 12: "not an object"}.items():
        assert what in got[n], (n, got[n])
    assert all(m.startswith(f"{p}:") for m in msgs)
    assert (items[1]["context"], items[1]["target"]) == (TEXTS[1][:-4], " tea")

def test_rationale_case_gold_and_first_token_target(gpt2_tok):
    it = rationale_item({"text": TEXTS[0], "rationale": _sp(TEXTS[0], "paints", "easel"), "line": 4}, "mine")
    assert it["id"] == "mine-4" and it["target"] == " painting"
    c = rationale_case(gpt2_tok, it)
    assert "".join(c.target.tokens[i] for i in c.gold) == " paints easel" and c.evidence is None and c.distractor is None
    multi = rationale_item({"text": "The wizard waved his wand and shouted Abracadabrazoom", "rationale": [[4, 10]]})
    c = rationale_case(gpt2_tok, multi)
    first = gpt2_tok(" Abracadabrazoom").input_ids
    assert len(first) > 1 and c.target.n_steps == 1 and c.target.target_id == first[0]   # several tokens: the first is the target
    gap = len(it["context"])                                                          # the space before the target word
    assert rationale_case(gpt2_tok, {**it, "rationale": [[gap, gap + 1]]}) is None     # covers no context token: dropped
