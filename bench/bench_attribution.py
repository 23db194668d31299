"""HETA end to end: seconds and peak memory on a GPT-2-small-sized model, exact vs Gauss-Newton curvature.

Each (tokens, curvature, threads) configuration runs in its own process, so its peak RSS is its own.
Random weights (12 layers, d=768, 12 heads, GPT-2 vocabulary), random token context, m=10 probes.

    python bench/bench_attribution.py [--tokens 64 256] [--threads 1] [--curvature exact gauss-newton] [--probes 10] [--batch-size 32]

Exact curvature costs T*m Hessian-vector products, linear in m: at 256 tokens and m=10 that is 2560
products (tens of minutes on a CPU), so the figures below measure it with --probes 2 and say so.
"""
import argparse, json, resource, subprocess, sys, time

def one(tokens, curvature, threads, probes, batch_size):
    import torch
    torch.set_num_threads(threads)
    from heta.models import tiny_gpt2, prepare_model, gpt2_tokenizer
    from heta.targets import Target
    from heta.attribution import HETA
    model = prepare_model(tiny_gpt2(n_layer=12, n_embd=768, n_head=12, n_positions=1024, seed=0))
    ids = torch.randint(0, 50257, (tokens + 1,), generator=torch.Generator().manual_seed(0))
    h = HETA(model, gpt2_tokenizer(), n_probes=probes, curvature=curvature, batch_size=batch_size)
    t0 = time.perf_counter()
    a = h.attribute_target(Target("", ids, [(0, 0)] * len(ids), tokens, tokens=[" w"] * len(ids)))   # one word per token
    return dict(seconds=time.perf_counter() - t0, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                finite=bool(abs(a.scores).sum() > 0))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--curvature", nargs="+", default=["exact", "gauss-newton"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--probes", type=int, default=10); ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--child", nargs=3)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(one(int(a.child[0]), a.child[1], int(a.child[2]), a.probes, a.batch_size))); return
    print(f"HETA end to end, random GPT-2-small-sized model, m={a.probes}, batch {a.batch_size}")
    for th in a.threads:
        for T in a.tokens:
            row = {}
            for cur in a.curvature:
                out = subprocess.run([sys.executable, __file__, "--child", str(T), cur, str(th), "--probes", str(a.probes), "--batch-size", str(a.batch_size)],
                                     capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
                row[cur] = json.loads(out)
                print(f"  threads={th} tokens={T:4d} {cur:13s} {row[cur]['seconds']:8.1f} s  peak RSS {row[cur]['peak_rss_mb']:6.0f} MB", flush=True)
            if len(row) == 2:
                print(f"  threads={th} tokens={T:4d} exact / gauss-newton = {row['exact']['seconds'] / row['gauss-newton']['seconds']:.1f}x")

if __name__ == "__main__": main()
