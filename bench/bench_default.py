"""HETA with its default settings on the offline real model (SmolLM2-135M): what a user waits for.

The demo sentence (what `make demo` explains), then paragraphs of 128 and 512 context tokens made of the
everyday sentences in bench/prompts.py, each explaining the model's own next token. Default preset, one torch
thread, each input in its own process (so its peak RSS is its own); model loading is timed apart.

    python bench/bench_default.py [--tokens 128 512] [--threads 1] [--out bench/results/default.json]
"""
import argparse, json, os, resource, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def paragraph(tok, n:int) -> str:
    "The first n tokens of the prompts of prompts.py joined into one text (with their answers)."
    sys.path.insert(0, str(HERE))
    from prompts import PROMPTS
    text, ids = "", []
    while len(ids) < n:
        text = " ".join(p + t + "." for p, t in PROMPTS * (1 + n // 200))
        ids = tok(text)["input_ids"]
    return tok.decode(ids[:n])


def one(what:str, threads:int) -> dict:
    import torch
    torch.set_num_threads(threads)
    from heta.models import load_model
    from heta.attribution import HETA
    from heta.cli import DEMO_TEXT, DEMO_TARGET
    t0 = time.perf_counter()
    model, tok = load_model("smollm2-135m")
    load = time.perf_counter() - t0
    text, target = (DEMO_TEXT, DEMO_TARGET) if what == "demo" else (paragraph(tok, int(what)), None)
    h = HETA(model, tok)
    t0 = time.perf_counter()
    a = h.attribute(text, target=target)
    sec = time.perf_counter() - t0
    return dict(input=what, context_tokens=len(a.tokens), seconds=round(sec, 2), load_seconds=round(load, 2), threads=threads,
                curvature=h.settings["curvature"], preset=h.settings["preset"],
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(HERE/"results"/"default.json"))
    ap.add_argument("--child", nargs=2)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(one(a.child[0], int(a.child[1])))); return
    print(f"HETA defaults on smollm2-135m, {a.threads} torch thread(s)")
    rows = []
    for what in ["demo"] + [str(n) for n in a.tokens]:
        out = subprocess.run([sys.executable, __file__, "--child", what, str(a.threads)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"  {what:>5}: {r['context_tokens']} context tokens, {r['seconds']:.1f} s ({r['preset']} preset, {r['curvature']} curvature), "
              f"model load {r['load_seconds']:.1f} s, peak RSS {r['peak_rss_mb']} MB", flush=True)
    for r in rows: r.update(date=time.strftime("%Y-%m-%d"), load_avg_1min=round(os.getloadavg()[0], 2))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rows, indent=1) + "\n")
    print(f"  wrote {a.out}")


if __name__ == "__main__": main()
