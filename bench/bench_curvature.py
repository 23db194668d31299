"""Curvature S_i: exact batched vs the naive per-(token, probe) loop, and Gauss-Newton vs exact.

Part A: a randomly initialised GPT-2-small-sized model (12 layers, d=768, GPT-2 vocab), 64-token
context, m=10 probes, at 1 and 2 torch threads: the naive loop, exact mode (prefix held fixed, the default),
exact mode running the whole sequence for every chunk (`use_cache=False`) and Gauss-Newton. Each configuration runs in its own process so its
peak memory (max RSS) is its own. Part B: Spearman agreement of Gauss-Newton with exact on the offline
model (smollm2-135m) over the prompts in bench/prompts.py.

    python bench/bench_curvature.py [--threads 1 2] [--tokens 64] [--probes 10] [--skip-real] [--out FILE]

Part A's figures go to `--out` (default bench/results/curvature.json), which chapter 03 renders.

--fisher-passes [T ...] times only `fisher_factors` (the K=32 gradients Gauss-Newton needs) on the same model at those
context lengths, all K in one batched backward pass against one pass per gradient (the CPU default), each in its own
process (seconds, peak RSS, max |difference| of the factors), with --fisher-out FILE for JSON, and exits.
"""
import argparse, json, os, resource, subprocess, sys, time
from pathlib import Path

def one(mode, threads, tokens, probes, batch_size):
    import torch
    torch.set_num_threads(threads)
    from heta.models import tiny_gpt2, prepare_model
    from heta.targets import Target
    from heta.curvature import hessian_sensitivity, hessian_sensitivity_naive
    model = prepare_model(tiny_gpt2(n_layer=12, n_embd=768, n_head=12, n_positions=1024, seed=0))
    ids = torch.randint(0, 50257, (tokens + 1,), generator=torch.Generator().manual_seed(0))
    t = Target("", ids, [(0, 0)] * len(ids), tokens)
    t0 = time.perf_counter()
    if mode == "naive": S = hessian_sensitivity_naive(model, t, n_probes=probes)
    elif mode == "exact-whole": S = hessian_sensitivity(model, t, "exact", n_probes=probes, batch_size=batch_size, use_cache=False)
    else: S = hessian_sensitivity(model, t, mode, n_probes=probes, batch_size=batch_size)
    sec = time.perf_counter() - t0
    return dict(mode=mode, threads=threads, seconds=sec, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                S=S.tolist())

def fisher_child(T, per_pass):
    import torch
    torch.set_num_threads(1)
    from heta.models import tiny_gpt2, prepare_model
    from heta.targets import Target
    from heta.curvature import _objective, fisher_factors
    model = prepare_model(tiny_gpt2(n_layer=12, n_embd=768, n_head=12, n_positions=1024, seed=0))
    ids = torch.randint(0, 50257, (T + 1,), generator=torch.Generator().manual_seed(0))
    f_full, X = _objective(model, Target("", ids, [(0, 0)] * len(ids), T), None, full=True)
    s = time.perf_counter(); U, pk, _ = fisher_factors(f_full, X, 32, grads_per_pass=per_pass); sec = time.perf_counter() - s
    torch.save(U, f"/tmp/heta_fisher_{os.getpid()}.pt")
    return dict(seconds=round(sec, 2), peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                threads=torch.get_num_threads(), factors=f"/tmp/heta_fisher_{os.getpid()}.pt")

def fisher_passes(tokens, threads, out):
    import torch
    print(f"fisher_factors, K=32 gradients, random GPT-2-small-sized model, torch threads = {threads}, load average {os.getloadavg()[0]:.1f}")
    rows = []
    for T in tokens:
        res = {}
        for per_pass in (32, 1):
            r = json.loads(subprocess.run([sys.executable, __file__, "--fisher-child", str(T), str(per_pass)], capture_output=True,
                                          text=True, check=True).stdout.strip().splitlines()[-1])
            res[per_pass] = r
            print(f"  T={T:4d} gradients per pass {per_pass:2d}: {r['seconds']:6.1f} s  peak RSS {r['peak_rss_mb']:5d} MB", flush=True)
        U32, U1 = torch.load(res[32]["factors"]), torch.load(res[1]["factors"])
        for r in res.values(): os.remove(r.pop("factors"))
        diff = float((U32 - U1).abs().max() / U32.abs().max())
        print(f"  T={T:4d} batched / one at a time = {res[32]['seconds'] / res[1]['seconds']:.2f}x time, "
              f"{res[32]['peak_rss_mb'] / res[1]['peak_rss_mb']:.2f}x peak RSS; max |diff| / max |u| = {diff:.1e}", flush=True)
        rows.append(dict(tokens=T, batched=res[32], one_at_a_time=res[1], max_rel_diff=diff))
    if out:
        with open(out, "w") as f: f.write(json.dumps(dict(date=time.strftime("%Y-%m-%d"), machine="2 CPU cores", rows=rows), indent=1) + "\n")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--tokens", type=int, default=64); ap.add_argument("--probes", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--modes", nargs="+", default=["naive", "exact", "exact-whole", "gauss-newton"])
    ap.add_argument("--out", default=str(Path(__file__).parent/"results"/"curvature.json"))
    ap.add_argument("--skip-real", action="store_true"); ap.add_argument("--child", nargs=2)
    ap.add_argument("--fisher-passes", type=int, nargs="*"); ap.add_argument("--fisher-child", nargs=2, type=int)
    ap.add_argument("--fisher-out", default=None)
    a = ap.parse_args()
    if a.fisher_child: print(json.dumps(fisher_child(*a.fisher_child))); return
    if a.fisher_passes is not None: return fisher_passes(a.fisher_passes or [256, 512], a.threads[0], a.fisher_out)
    if a.child:
        print(json.dumps(one(a.child[0], int(a.child[1]), a.tokens, a.probes, a.batch_size))); return
    from heta.curvature import spearman
    print(f"Part A: random GPT-2-small-sized model, {a.tokens} tokens, m={a.probes}, batch {a.batch_size}")
    rows = []
    for th in a.threads:
        res = {}
        for mode in a.modes:
            out = subprocess.run([sys.executable, __file__, "--child", mode, str(th), "--tokens", str(a.tokens),
                                  "--probes", str(a.probes), "--batch-size", str(a.batch_size)],
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            res[mode] = json.loads(out)
            print(f"  threads={th} {mode:13s} {res[mode]['seconds']:8.2f} s  peak RSS {res[mode]['peak_rss_mb']:7.0f} MB", flush=True)
        rows.append(dict(threads=th, tokens=a.tokens, probes=a.probes, batch_size=a.batch_size, date=time.strftime("%Y-%m-%d"),
                         load_avg_1min=round(os.getloadavg()[0], 2), **{f"{m}_seconds": round(r["seconds"], 2) for m, r in res.items()},
                         **{f"{m}_peak_rss_mb": round(r["peak_rss_mb"]) for m, r in res.items()}))
        if "naive" in res and "exact" in res:
            import torch
            err = (torch.tensor(res["exact"]["S"]) - torch.tensor(res["naive"]["S"])).abs().max().item()
            print(f"  threads={th} exact batched vs naive: {res['naive']['seconds']/res['exact']['seconds']:.1f}x faster, max |dS| = {err:.2e}")
            rows[-1]["exact_vs_naive_max_abs_dS"] = err
            rows[-1]["exact_vs_naive_max_rel_dS"] = err / max(abs(x) for x in res["naive"]["S"])
        if "gauss-newton" in res and "exact" in res:
            print(f"  threads={th} gauss-newton vs exact: {res['exact']['seconds']/res['gauss-newton']['seconds']:.1f}x faster, "
                  f"Spearman {spearman(res['exact']['S'], res['gauss-newton']['S']):.2f}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rows, indent=1) + "\n")
    print(f"  wrote {a.out}")
    if a.skip_real: return
    import torch
    torch.set_num_threads(a.threads[0])
    sys.path.insert(0, str(Path(__file__).parent))
    from prompts import PROMPTS
    from heta.models import load_model
    from heta.targets import make_target
    from heta.curvature import hessian_sensitivity
    model, tok = load_model("smollm2-135m")
    rhos, t_ex, t_gn = [], 0., 0.
    print(f"Part B: smollm2-135m, {len(PROMPTS)} prompts, m={a.probes}, threads={a.threads[0]}")
    for text, target in PROMPTS:
        t = make_target(tok, text, target)
        t0 = time.perf_counter(); ex = hessian_sensitivity(model, t, "exact", n_probes=a.probes, batch_size=a.batch_size); t1 = time.perf_counter()
        gn = hessian_sensitivity(model, t, "gauss-newton", n_probes=a.probes); t2 = time.perf_counter()
        t_ex += t1 - t0; t_gn += t2 - t1; rhos.append(spearman(ex, gn))
        print(f"  {t.target_pos:3d} tokens  exact {t1-t0:6.2f}s  GN {t2-t1:5.2f}s  Spearman {rhos[-1]:.2f}", flush=True)
    rs = sorted(rhos)
    print(f"  Spearman GN vs exact: median {rs[len(rs)//2]:.2f}, min {rs[0]:.2f}, max {rs[-1]:.2f}; "
          f"total exact {t_ex:.1f}s vs GN {t_gn:.1f}s ({t_ex/t_gn:.1f}x)")

if __name__ == "__main__": main()
