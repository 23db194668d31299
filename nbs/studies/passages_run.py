"""The slow half of the passage study (nbs/studies/passages.ipynb): which retrieved passage supports the answer?

Each item of data/passages.jsonl (written for heta: four short passages, one of which states the answer, others a fact
of the same kind) becomes a prompt "Passage 1: ...\\n...\\nQuestion: ...\\nAnswer: <the start of the answer sentence>"
and the target is its one-word answer. An item is kept for a model only when the model's greedy next token is the answer's first token. Three ways to
score the passages, each giving one number per passage:
  * heta-passages: HETA (default settings) with units = the passages' character spans (chapter 05);
  * heta-tokens:   token-level HETA (default settings), summed over each passage's tokens;
  * leave-one-out: log p(answer) with all passages minus log p(answer) with that passage's line removed (the ablation
                   that ContextCite approximates).
Results go to results/passages/<model>.jsonl, one line per (item, method), appended as they are computed (resumable).

    python nbs/studies/passages_run.py --model smollm2-135m
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA, OUT = HERE/"data"/"passages.jsonl", HERE/"results"/"passages"
METHODS = ("heta-passages", "heta-tokens", "leave-one-out")


def prompt(item:dict, drop:int=None) -> tuple:
    "(text, passage spans) of an item's prompt; `drop`: leave that passage's line out."
    text, spans = "", []
    for k, p in enumerate(item["passages"]):
        if k == drop: continue
        head = f"Passage {k + 1}: "
        spans.append((len(text) + len(head), len(text) + len(head) + len(p)))
        text += head + p + "\n"
    return text + f"\nQuestion: {item['question']}\nAnswer: {item['cloze']}", spans


def passage_scores(method:str, item:dict, model, tok, heta) -> list:
    "One score per passage (higher: more support for the answer)."
    import torch
    from heta.targets import make_target, span_tokens, input_embeddings, target_logprob
    text, spans = prompt(item)
    if method == "heta-passages":
        a = heta.attribute(text, target=item["answer"], units=[list(s) for s in spans])
        overlap = lambda o, s: min(o[1], s[1]) - max(o[0], s[0])
        return [float(a.scores[max(range(len(a.offsets)), key=lambda j: overlap(a.offsets[j], s))]) for s in spans]
    if method == "heta-tokens":
        a = heta.attribute(text, target=item["answer"])
        return [float(sum(a.scores[i] for i in span_tokens(a.offsets, s))) for s in spans]
    def logp(t):
        tg = make_target(tok, t, item["answer"])
        with torch.no_grad(): return float(target_logprob(model, input_embeddings(model, tg.context_ids), tg.target_id))
    full = logp(text)
    return [full - logp(prompt(item, drop=k)[0]) for k in range(len(spans))]


def keeps(item:dict, model, tok) -> bool:
    "Whether the model's greedy next token is the answer's first token."
    import torch
    from heta.targets import make_target, input_embeddings, next_logprobs
    t = make_target(tok, prompt(item)[0], item["answer"])
    with torch.no_grad(): return int(next_logprobs(model, input_embeddings(model, t.context_ids)).argmax()) == t.target_id


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, help="the first N items only")
    ap.add_argument("--out", help="result file (default: results/passages/MODEL.jsonl)")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    from heta.models import load_model
    from heta.attribution import HETA
    model, tok = load_model(a.model)
    heta = HETA(model, tok)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT/f"{a.model}.jsonl" if a.out is None else Path(a.out)
    done = {(r["id"], r["method"]) for r in map(json.loads, path.read_text().splitlines())} if path.exists() else set()
    items = [json.loads(l) for l in DATA.read_text().splitlines() if l.strip()][:a.limit]
    with open(path, "a") as f:
        for item in items:
            kept = keeps(item, model, tok)
            for m in METHODS:
                if (item["id"], m) in done: continue
                t0 = time.perf_counter()
                s = passage_scores(m, item, model, tok, heta) if kept else None
                rec = dict(id=item["id"], method=m, kept=kept, gold=item["gold"], scores=s, seconds=round(time.perf_counter() - t0, 2),
                           settings=dict(heta.settings) if m.startswith("heta") else None)
                f.write(json.dumps(rec) + "\n"); f.flush()
                print(item["id"], m, "kept" if kept else "dropped", s, flush=True)


if __name__ == "__main__": main()
