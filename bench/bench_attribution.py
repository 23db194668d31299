"""HETA end to end: seconds and peak memory on a GPT-2-small-sized model, exact vs Gauss-Newton curvature.

Each (tokens, curvature, threads) configuration runs in its own process, so its peak RSS is its own.
Random weights (12 layers, d=768, 12 heads, GPT-2 vocabulary), random token context, m=10 probes.

    python bench/bench_attribution.py [--tokens 64 256] [--threads 1] [--curvature exact gauss-newton] [--probes 10] [--batch-size 32]

Exact curvature costs T*m Hessian-vector products, linear in m: at 256 tokens and m=10 that is 2560
products (tens of minutes on a CPU), so the figures below measure it with --probes 2 and say so.

Each run also prints its components' seconds (gate, curvature, information: HETA's calls timed in place).
--before adds, for each configuration, a run with Gauss-Newton's K gradients in one batched backward pass (the path
before they ran one pass at a time on a CPU), so the ratio comes from one session. --out writes the rows as JSON.
"""
import argparse, contextlib, json, os, resource, subprocess, sys, time

def _timed_components(times):
    "Wrap the component functions HETA calls so each one's seconds add up in `times`."
    import heta.attribution as att
    def wrap(name, key):
        f = getattr(att, name)
        def g(*a, **k):
            s = time.perf_counter()
            try: return f(*a, **k)
            finally: times[key] = times.get(key, 0.) + time.perf_counter() - s
        setattr(att, name, g)
    for name, key in (("semantic_flow", "gate"), ("hessian_sensitivity", "curvature"), ("unit_information", "information"),
                      ("kl_information", "information")): wrap(name, key)

def one(tokens, curvature, threads, probes, batch_size, before=False):
    import torch
    torch.set_num_threads(threads)
    from heta.models import tiny_gpt2, prepare_model, gpt2_tokenizer
    from heta.targets import Target
    from heta.attribution import HETA
    if before:   # Gauss-Newton's K gradients in one batched backward pass, as before
        import heta.curvature as cur
        ff = cur.fisher_factors
        cur.fisher_factors = lambda f_full, X, top_k=32, grads_per_pass=None: ff(f_full, X, top_k, grads_per_pass=top_k)
    times = {}
    _timed_components(times)
    model = prepare_model(tiny_gpt2(n_layer=12, n_embd=768, n_head=12, n_positions=1024, seed=0))
    ids = torch.randint(0, 50257, (tokens + 1,), generator=torch.Generator().manual_seed(0))
    h = HETA(model, gpt2_tokenizer(), n_probes=probes, curvature=curvature, batch_size=batch_size)
    t0 = time.perf_counter()
    a = h.attribute_target(Target("", ids, [(0, 0)] * len(ids), tokens, tokens=[" w"] * len(ids)))   # one word per token
    return dict(seconds=time.perf_counter() - t0, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                finite=bool(abs(a.scores).sum() > 0), threads=torch.get_num_threads(), components={k: round(v, 2) for k, v in times.items()},
                scores=[float(x) for x in a.scores])

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--curvature", nargs="+", default=["exact", "gauss-newton"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--probes", type=int, default=10); ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--before", action="store_true"); ap.add_argument("--out", default=None)
    ap.add_argument("--child", nargs=3); ap.add_argument("--child-before", action="store_true")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(one(int(a.child[0]), a.child[1], int(a.child[2]), a.probes, a.batch_size, a.child_before))); return
    print(f"HETA end to end, random GPT-2-small-sized model, m={a.probes}, batch {a.batch_size}, load average {os.getloadavg()[0]:.1f}")
    rows = []
    for th in a.threads:
        for T in a.tokens:
            row = {}
            for cur in a.curvature:
                for before in ((False, True) if a.before else (False,)):
                    key = cur + (" (before)" if before else "")
                    out = subprocess.run([sys.executable, __file__, "--child", str(T), cur, str(th), "--probes", str(a.probes), "--batch-size", str(a.batch_size)]
                                         + (["--child-before"] if before else []), capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
                    row[key] = r = json.loads(out)
                    comp = ", ".join(f"{k} {v:.1f}" for k, v in r["components"].items())
                    print(f"  threads={th} (torch: {r['threads']}) tokens={T:4d} {key:22s} {r['seconds']:8.1f} s  peak RSS {r['peak_rss_mb']:6.0f} MB  ({comp})", flush=True)
                    rows.append(dict(tokens=T, curvature=cur, before=before, probes=a.probes, batch_size=a.batch_size,
                                     **{k: v for k, v in r.items() if k != "scores"}))
                if a.before:
                    b, n = row[cur + " (before)"], row[cur]
                    print(f"  threads={th} tokens={T:4d} {cur}: before / now = {b['seconds'] / n['seconds']:.3f} end to end, "
                          f"{b['components']['information'] / n['components']['information']:.3f} information term, "
                          f"{b['components']['curvature'] / n['components']['curvature']:.3f} curvature; "
                          f"max |score diff| {max(abs(x - y) for x, y in zip(b['scores'], n['scores'])):.1e}", flush=True)
            if "exact" in row and "gauss-newton" in row:
                print(f"  threads={th} tokens={T:4d} exact / gauss-newton = {row['exact']['seconds'] / row['gauss-newton']['seconds']:.1f}x")
    if a.out:
        with open(a.out, "w") as f: f.write(json.dumps(dict(date=time.strftime("%Y-%m-%d"), machine="2 CPU cores", rows=rows), indent=1) + "\n")

if __name__ == "__main__": main()
