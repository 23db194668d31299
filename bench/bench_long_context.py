"""What HETA end to end (Gauss-Newton curvature, the defaults' word-level information) would take at long contexts.

A full 1024-token run is dominated by the information term (one suffix per masked word, T^2/2 position-passes:
about 16 times the 256-token work, plus attention that grows with T), i.e. more than the half hour a benchmark
may take on one CPU thread. This script runs the gate and the Gauss-Newton curvature in full (as HETA calls them),
and times the information term on the chunks of 8 masked words starting at a = 0, T/4, T/2, 3T/4 and T-8;
the other chunks are interpolated linearly in a (a chunk runs the 8 (T - a) positions after a), and the clean pass,
paid once, is timed apart. Same random GPT-2-small-sized model and random context as bench_attribution.py
(one word per token). Peak RSS is the process's.

    python bench/bench_long_context.py [--tokens 1024] [--threads 1] [--out FILE]
"""
import argparse, json, os, resource, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1024); ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    import numpy as np, torch
    torch.set_num_threads(a.threads)
    from heta.models import tiny_gpt2, prepare_model
    from heta.targets import Target, input_embeddings
    from heta.flow import semantic_flow
    from heta.curvature import hessian_sensitivity
    from heta.information import unit_information, CACHE_CHUNK
    T = a.tokens
    model = prepare_model(tiny_gpt2(n_layer=12, n_embd=768, n_head=12, n_positions=max(1024, T), seed=0))
    ids = torch.randint(0, 50257, (T + 1,), generator=torch.Generator().manual_seed(0))
    t = Target("", ids, [(0, 0)] * len(ids), T, tokens=[" w"] * len(ids))
    print(f"HETA at {T} tokens, random GPT-2-small-sized model, torch threads = {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    res = dict(date=time.strftime("%Y-%m-%d"), tokens=T, threads=torch.get_num_threads(), machine="2 CPU cores")
    s = time.perf_counter(); semantic_flow(model, t); res["gate_s"] = round(time.perf_counter() - s, 2)
    print(f"  gate {res['gate_s']:.1f} s", flush=True)
    s = time.perf_counter(); hessian_sensitivity(model, t, mode="gauss-newton", n_probes=10, batch_size=32, return_se=True)
    res["curvature_gauss_newton_s"] = round(time.perf_counter() - s, 2)
    print(f"  Gauss-Newton curvature {res['curvature_gauss_newton_s']:.1f} s, peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)
    X = input_embeddings(model, t.context_ids)
    with torch.no_grad():
        s = time.perf_counter(); model.base_model(inputs_embeds=X, use_cache=True); clean = time.perf_counter() - s
    B, chunks = CACHE_CHUNK, {}
    for start in sorted({0, T // 4, T // 2, 3 * T // 4, T - B}):
        units = [[i] for i in range(start, start + B)]
        s = time.perf_counter(); unit_information(model, t, units, spread=False); chunks[start] = time.perf_counter() - s - clean
        print(f"  information chunk a={start:4d}: {chunks[start]:.1f} s", flush=True)
    info = clean + float(np.interp(range(0, T, B), list(chunks), list(chunks.values())).sum())
    res.update(information_estimated_s=round(info, 1), information_chunks_s={k: round(v, 2) for k, v in chunks.items()}, clean_pass_s=round(clean, 2),
               peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    res["end_to_end_estimated_s"] = round(res["gate_s"] + res["curvature_gauss_newton_s"] + info, 1)
    print(f"  information term estimated {info:.0f} s ({T // B} chunks of {B}, {len(chunks)} timed); end to end about "
          f"{res['end_to_end_estimated_s']:.0f} s; peak RSS {res['peak_rss_mb']} MB")
    if a.out:
        with open(a.out, "w") as f: f.write(json.dumps(res, indent=1) + "\n")

if __name__ == "__main__": main()
