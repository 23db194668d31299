"""GPU check: heta's components on one accelerator, in float32 and bfloat16, with random-weight models only.

    python bench/gpu_check.py                       # CUDA when available: the whole check (< 8 min on one large GPU)
    python bench/gpu_check.py --device cpu --quick  # a smoke run of this script on a CPU (tiny models, seconds)

Needs torch, transformers and accelerate, nothing from the network (no tokenizer, no weights): run it from a
checkout with `PYTHONPATH=.`. Two parts:
1. Parity on the device (tiny models): batched exact curvature equals the naive loop, the batched information term
   equals its naive loop, the prefix-cached curvature equals the whole-sequence one, and every component is finite.
2. Timing and precision: the curvature (exact and Gauss-Newton), the information term and HETA end to end (Gauss-Newton)
   on a GPT-2-small-sized model and a ~1B-parameter Llama-shaped model at 64/256/1024 context tokens, in float32 and
   bfloat16: seconds, peak device memory and the Spearman agreement of each bfloat16 result with float32. Exact
   curvature costs T*m Hessian-vector products, so it runs with fewer probes at longer contexts (the table says how
   many); a configuration that would overrun the time budget is skipped and listed as such.
The table is printed as markdown and written to $OUT/gpu_check.json (or --json) for bench/README.md.
"""
import argparse, json, os, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(kind, quick, device, dtype):
    "A random-weight causal LM prepared for heta, built directly on the device."
    import torch
    from heta.models import prepare_model
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    if kind == "gpt2-small":
        cfg = GPT2Config(n_layer=2 if quick else 12, n_embd=64 if quick else 768, n_head=4 if quick else 12,
                         n_positions=1100, vocab_size=50257, attn_implementation="eager")
        cls = GPT2LMHeadModel
    else:   # Llama-shaped, ~1.2B parameters at full size (Llama 3.2 1B's shape with a GPT-2-sized vocabulary)
        cfg = LlamaConfig(vocab_size=50257, hidden_size=64 if quick else 2048, intermediate_size=128 if quick else 8192,
                          num_hidden_layers=2 if quick else 16, num_attention_heads=4 if quick else 32,
                          num_key_value_heads=2 if quick else 8, max_position_embeddings=1100, attn_implementation="eager")
        cls = LlamaForCausalLM
    with torch.device(device): model = cls(cfg)
    return prepare_model(model, device=device, dtype=dtype)


def target(T, seed=0):
    import torch
    from heta.targets import Target
    ids = torch.randint(0, 50257, (T + 1,), generator=torch.Generator().manual_seed(seed))
    return Target("", ids, [(0, 0)] * (T + 1), T, tokens=[" w"] * (T + 1))


def sync(device):
    import torch
    if str(device).startswith("cuda"): torch.cuda.synchronize()


def measure(device, fn):
    "(result, seconds, peak device memory in GB or None)."
    import torch
    cuda = str(device).startswith("cuda")
    if cuda: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    sync(device); t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0, (torch.cuda.max_memory_allocated() / 2**30 if cuda else None)


def parity(device):
    "Part 1: the fast paths equal their naive references on the device."
    import torch
    from heta.curvature import hessian_sensitivity, hessian_sensitivity_naive
    from heta.information import kl_information, kl_information_naive
    from heta.attribution import HETA
    m, t = build("gpt2-small", True, device, torch.float32), target(12)
    rel = lambda a, b: float((a - b).abs().max() / b.abs().max())
    naive = hessian_sensitivity_naive(m, t, n_probes=3, seed=1)
    checks = {"exact batched vs naive loop": rel(hessian_sensitivity(m, t, n_probes=3, seed=1, batch_size=8), naive),
              "exact prefix-cached vs whole sequence": rel(hessian_sensitivity(m, t, n_probes=3, seed=1, batch_size=8),
                                                          hessian_sensitivity(m, t, n_probes=3, seed=1, batch_size=8, use_cache=False)),
              "information batched vs naive loop": rel(kl_information(m, t), kl_information_naive(m, t))}
    a = HETA(m, None, n_probes=2, curvature="gauss-newton").attribute_target(t)
    import numpy as np
    finite = all(np.isfinite(getattr(a, k)).all() for k in ("scores", "gate", "curvature", "information"))
    ok = all(v < 1e-4 for v in checks.values()) and finite
    for k, v in checks.items(): print(f"  {k}: max relative difference {v:.1e}")
    print(f"  HETA end to end on {device}: finite {finite}")
    return ok, checks


def components(model, t, curvature_probes, device, budget_left):
    "Each component's (seconds, peak GB, values) on one model and target; exact is skipped past the budget."
    from heta.curvature import hessian_sensitivity
    from heta.information import kl_information
    from heta.attribution import HETA
    out = {}
    out["information"] = measure(device, lambda: kl_information(model, t, batch_size=16))
    out["gauss-newton"] = measure(device, lambda: hessian_sensitivity(model, t, "gauss-newton", n_probes=10))
    out["heta (gauss-newton)"] = measure(device, lambda: HETA(model, None, n_probes=10, curvature="gauss-newton",
                                                             batch_size=16).attribute_target(t).scores)
    if curvature_probes and budget_left() > 0:
        out[f"exact (m={curvature_probes})"] = measure(device, lambda: hessian_sensitivity(
            model, t, "exact", n_probes=curvature_probes, batch_size=16))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--quick", action="store_true", help="tiny models and contexts: a smoke run of this script")
    ap.add_argument("--budget", type=float, default=420., help="seconds after which exact curvature runs are skipped")
    ap.add_argument("--json", default=None, help="default: $OUT/gpu_check.json when OUT is set")
    a = ap.parse_args()
    import torch
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available(): sys.exit("--device cuda: torch sees no CUDA device here")
    t_start = time.perf_counter()
    budget_left = lambda: a.budget - (time.perf_counter() - t_start)
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU"
    print(f"heta GPU check on {device} ({name}), torch {torch.__version__}, {time.strftime('%Y-%m-%d')}")
    print("Part 1: parity on the device")
    ok, checks = parity(device)
    lengths = (8, 16) if a.quick else (64, 256, 1024)
    probes = {64: 10, 256: 2, 1024: 0} if not a.quick else {8: 2, 16: 1}      # exact curvature's probes per length (0: skipped)
    rows = []
    print("Part 2: timing and precision (bf16 agreement = Spearman with the float32 result)")
    from heta.curvature import spearman
    for kind in ("gpt2-small", "llama-1b"):
        models = {dt: build(kind, a.quick, device, getattr(torch, dt)) for dt in ("float32", "bfloat16")}
        n_params = sum(p.numel() for p in models["float32"].parameters())
        for T in lengths:
            t = target(T)
            res = {dt: components(m, t, probes[T] if (kind == "gpt2-small" or T <= 256) else 0, device, budget_left)
                   for dt, m in models.items()}
            for comp in res["float32"]:
                for dt in ("float32", "bfloat16"):
                    if comp not in res[dt]: continue
                    val, sec, mem = res[dt][comp]
                    ref = res["float32"][comp][0]
                    rho = spearman(torch.as_tensor(val).float().cpu(), torch.as_tensor(ref).float().cpu()) if dt == "bfloat16" else None
                    rows.append(dict(model=kind, params_M=round(n_params / 1e6), tokens=T, component=comp, dtype=dt,
                                     seconds=round(sec, 3), peak_GB=None if mem is None else round(mem, 2),
                                     bf16_spearman=None if rho is None else round(rho, 3)))
                    r = rows[-1]
                    print(f"  {kind:10s} T={T:5d} {comp:20s} {dt:9s} {sec:8.2f} s  peak {r['peak_GB']} GB"
                          + (f"  Spearman vs fp32 {rho:.3f}" if rho is not None else ""), flush=True)
        del models
        if device.startswith("cuda"): torch.cuda.empty_cache()
    print("\n| model | tokens | component | dtype | seconds | peak GB | Spearman vs fp32 |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} ({r['params_M']}M) | {r['tokens']} | {r['component']} | {r['dtype']} | {r['seconds']} | "
              f"{r['peak_GB'] if r['peak_GB'] is not None else '-'} | {r['bf16_spearman'] if r['bf16_spearman'] is not None else '-'} |")
    print(f"\nparity {'ok' if ok else 'FAILED'}; total {time.perf_counter() - t_start:.0f} s")
    path = a.json or (os.path.join(os.environ["OUT"], "gpu_check.json") if os.environ.get("OUT") else None)
    if path:
        Path(path).write_text(json.dumps(dict(device=device, name=name, torch=torch.__version__, date=time.strftime("%Y-%m-%d"),
                                              parity=checks, parity_ok=ok, rows=rows), indent=1) + "\n")
        print(f"wrote {path}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__": main()
