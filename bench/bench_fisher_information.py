"""Would a second-order (Fisher) expansion of the information term do? Agreement with the exact KL and its speed.

KL(P || P_u) ~ 1/2 sum_v p_v (g_v . delta_u)^2 with g_v = grad_x log p_v for the top-k next tokens (the factors
Gauss-Newton curvature computes, `heta.curvature.fisher_factors`) and delta_u = (mask - x_i) on the rows i of unit u.
SmolLM2-135M, the 22 prompts of prompts.py plus the 128-token paragraph of bench_default.py (its own next token),
mask="zero", words (HETA's default unit) and single tokens. Per input: Spearman of Fisher vs exact, whether the top
unit agrees, the overlap of the top-3 sets, and sum(Fisher)/sum(exact); as a yardstick, Spearman of Gauss-Newton
S against exact I (token level), i.e. what the curvature term alone already says about I.

    python bench/bench_fisher_information.py [--threads 1] [--top-k 32] [--out bench/results/fisher_information.json]
"""
import argparse, json, statistics as st, sys, time
from pathlib import Path
HERE = Path(__file__).resolve().parent

def fisher_units(U, pk, X, m, units):
    "1/2 sum_v p_v (sum_{i in u} g_v[i] . (m - x_i))^2 for each unit u."
    import torch
    A = torch.einsum("vtd,td->vt", U.double(), (m[None] - X[0]).double())
    S = torch.stack([A[:, u].sum(1) for u in units], 1)
    return (0.5 * (pk.double()[:, None] * S ** 2).sum(0)).float()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1); ap.add_argument("--top-k", type=int, default=32)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    sys.path.insert(0, str(HERE))
    from prompts import PROMPTS
    from bench_default import paragraph
    from heta.models import load_model
    from heta.targets import make_target, greedy_target
    from heta.curvature import fisher_factors, _objective, spearman, hessian_sensitivity
    from heta.information import unit_information, kl_information, word_units, mask_embedding
    print(f"Fisher vs exact information term, smollm2-135m, mask='zero', top_k={a.top_k}, torch threads = {torch.get_num_threads()}")
    model, tok = load_model("smollm2-135m")
    m = mask_embedding(model, "zero")
    top = lambda x, k: set(x.topk(min(k, len(x))).indices.tolist())
    cases = [make_target(tok, p, t) for p, t in PROMPTS] + [greedy_target(model, tok, paragraph(tok, 128), 1)]
    rows = {"word": [], "token": []}
    sec = dict(exact_words=0., exact_tokens=0., fisher_factors=0., fisher_from_factors=0.)
    for t in cases:
        units = word_units(t.context_tokens, t.context_offsets)
        s = time.perf_counter(); Iw = unit_information(model, t, units, spread=False); sec["exact_words"] += time.perf_counter() - s
        s = time.perf_counter(); It = kl_information(model, t); sec["exact_tokens"] += time.perf_counter() - s
        s = time.perf_counter(); f_full, X = _objective(model, t, None, full=True); U, pk, mass = fisher_factors(f_full, X, a.top_k)
        sec["fisher_factors"] += time.perf_counter() - s
        s = time.perf_counter()
        Fw, Ft = fisher_units(U, pk, X, m, units), fisher_units(U, pk, X, m, [[i] for i in range(X.shape[1])])
        sec["fisher_from_factors"] += time.perf_counter() - s
        S = hessian_sensitivity(model, t, "gauss-newton")
        for k, I, Fi in (("word", Iw, Fw), ("token", It, Ft)):
            r = dict(tokens=t.target_pos, units=len(I), spearman=spearman(I, Fi), top1=float(I.argmax() == Fi.argmax()),
                     top3=len(top(I, 3) & top(Fi, 3)) / min(3, len(I)), sum_ratio=float(Fi.sum() / I.sum()), mass=mass)
            if k == "token": r["spearman_S_gn_vs_I"] = spearman(It, S)
            rows[k].append(r)
        w, tk = rows["word"][-1], rows["token"][-1]
        print(f"  {t.target_pos:4d} tokens {len(units):3d} words  top-{a.top_k} mass {mass:.2f} | words: Spearman {w['spearman']:5.2f} top-1 {w['top1']:.0f} "
              f"top-3 {w['top3']:.2f} sum F/I {w['sum_ratio']:.2f} | tokens: Spearman {tk['spearman']:5.2f} (S_GN vs I {tk['spearman_S_gn_vs_I']:5.2f})", flush=True)
    summary = {}
    for k, R in rows.items():
        rh = sorted(r["spearman"] for r in R)
        summary[k] = dict(spearman_median=round(st.median(rh), 3), spearman_min=round(rh[0], 3), spearman_max=round(rh[-1], 3),
                          top1_agreement=round(st.mean(r["top1"] for r in R), 3), top3_overlap=round(st.mean(r["top3"] for r in R), 3),
                          sum_ratio_median=round(st.median(r["sum_ratio"] for r in R), 4))
        print(f"{k}s: Spearman Fisher vs exact median {summary[k]['spearman_median']:.2f} (min {rh[0]:.2f}, max {rh[-1]:.2f}); top-1 agrees "
              f"{summary[k]['top1_agreement']:.2f}; top-3 overlap {summary[k]['top3_overlap']:.2f}; sum(Fisher)/sum(exact) median {summary[k]['sum_ratio_median']:.3f}")
    rS = sorted(r["spearman_S_gn_vs_I"] for r in rows["token"])
    summary["token"]["spearman_S_gn_vs_I_median"] = round(st.median(rS), 3)
    print(f"yardstick: Spearman of Gauss-Newton S vs exact I (tokens) median {st.median(rS):.2f} (min {rS[0]:.2f})")
    print("seconds over all inputs: " + ", ".join(f"{k} {v:.2f}" for k, v in sec.items())
          + f"; exact words / Fisher from its factors = {sec['exact_words'] / sec['fisher_from_factors']:.0f}x")
    if a.out:
        Path(a.out).write_text(json.dumps(dict(model="smollm2-135m", inputs=len(cases), top_k=a.top_k, mask="zero", threads=a.threads,
                                               date=time.strftime("%Y-%m-%d"), summary=summary, seconds={k: round(v, 2) for k, v in sec.items()},
                                               rows=rows), indent=1) + "\n")

if __name__ == "__main__": main()
