import pytest, torch
from heta.targets import make_target, greedy_target, input_embeddings, next_logprobs
from heta.models import prepare_model, tiny_gpt2, load_model

def test_offsets_tile_ascii_text(gpt2_tok):
    t = make_target(gpt2_tok, "Hello,  world!\nNew line:\t12345 <b>&amp;", " end")
    assert t.offsets[0][0] == 0 and t.offsets[-1][1] == len(t.text)
    for (s0, e0), (s1, e1) in zip(t.offsets, t.offsets[1:]): assert e0 == s1  # byte-level BPE tiles the text
    assert "".join(t.tokens) == t.text

def test_offsets_with_split_characters(gpt2_tok):
    # byte-level BPE may split one character over two tokens: their spans then share that character
    t = make_target(gpt2_tok, "café ünïcode 日本語", " end")
    assert t.offsets[0][0] == 0 and t.offsets[-1][1] == len(t.text)
    for (s0, e0), (s1, e1) in zip(t.offsets, t.offsets[1:]): assert s0 <= s1 and e0 >= s1

def test_multi_token_target_steps(gpt2_tok):
    t = make_target(gpt2_tok, "a b c", " d e f")
    assert t.n_steps == 3 and [s.pred_pos for s in t.steps()] == [2, 3, 4]
    with pytest.raises(IndexError): t.step(3)

@pytest.mark.parametrize("bad,msg", [
    (dict(text="   ", target=" x"), "text is empty"),
    (dict(text="abc", target=""), "target string is empty"),
    (dict(text="abc def", target_pos=0), "outside"),
    (dict(text="abc def", target_pos=-1), "outside"),
    (dict(text="abc def", target_pos=2), "outside"),
    (dict(text="abc def", target_pos=1.0), "outside"),
])
def test_bad_inputs(gpt2_tok, bad, msg):
    with pytest.raises(ValueError, match=msg): make_target(gpt2_tok, **bad)

def test_whitespace_target_tokenises_to_something(gpt2_tok):
    t = make_target(gpt2_tok, "abc", "\n")
    assert t.target_str == "\n"

def test_greedy_target_matches_logits(gpt2_tok):
    m = prepare_model(tiny_gpt2(init_std=0.3))
    g = greedy_target(m, gpt2_tok, "one two three", n=4)
    for s in g.steps():
        with torch.no_grad(): lp = next_logprobs(m, input_embeddings(m, s.context_ids))[0]
        assert int(lp.argmax()) == s.target_id

def test_slow_tokenizer_refused():
    class Slow: is_fast = False
    with pytest.raises(ValueError, match="slow tokenizer"): make_target(Slow(), "abc", " d")

def test_load_model_rejects_loaded_model_without_tokenizer():
    with pytest.raises(ValueError, match="tokenizer="): load_model(tiny_gpt2())
