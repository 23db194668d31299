"""The slow half of the grounding study (nbs/studies/grounding.ipynb): computes, per model, the three HETA components
once per case, scores every configuration of the grid on the dev splits, applies the selection rule, and writes small
result files that the notebook renders. Resumable: the per-case caches under results/grounding/<model>/cache/ are
appended as they are computed and reused on the next run.

    python nbs/studies/grounding_run.py --model smollm2-135m dev      # components + grid on the dev splits, selection
    python nbs/studies/grounding_run.py --model smollm2-135m test     # every method on the test splits (heta evaluate)
    python nbs/studies/grounding_run.py --model toy-gpt2 diagnose     # mass by position class on the toy task
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "grounding"
CLASSES = ("pred", "sink", "template", "query", "evidence", "distractor", "other")
DEV = ("curated:dev", "longrange:dev")
TEST = ("curated:test", "longrange:test")
DRAWS, SEED, N_PROBES = 4, 0, 10
# What selection ranks configurations by, and on which dev split each metric is read.
SELECT_METRICS = {"soft_ns": "all", "soft_nc": "all", "dsa": "curated:dev", "f1": "curated:dev", "mrr": "longrange:dev"}
N_CANDIDATES = 8
RULE = ("two stages on the dev splits only. (1) Every configuration of the grid is ranked by its mean rank over DSA and "
        "token F1 (curated dev) and antecedent MRR (long-range dev), which need no model calls; the best "
        f"{N_CANDIDATES} go on, with the paper and classic presets as references. (2) Among those candidates, the default "
        "is the one with the best mean rank over soft-NS, soft-NC (all dev cases), DSA, token F1 and antecedent MRR, "
        "among those whose soft-NS and soft-NC are not significantly worse than the paper preset (paired bootstrap over "
        "the dev cases: worse when the 95% CI of candidate minus paper lies below 0)")
FREE_METRICS = {"dsa": "curated:dev", "f1": "curated:dev", "mrr": "longrange:dev"}


# What 2 shared CPU cores allowed: the first N curated cases of a split, every k-th long-range case (all categories).
DEV_LIMIT = {"curated": 17, "longrange": 2}

def subset(cases:list, fam:str, limits:dict) -> list:
    "The cases a run uses: the first `limits['curated']` curated cases, every `limits['longrange']`-th long-range case."
    if fam == "curated" and limits.get("curated"): return cases[:limits["curated"]]
    if fam == "longrange" and limits.get("longrange"): return cases[::limits["longrange"]]
    return cases


def grid() -> dict:
    "The configurations compared on dev: name -> HETA settings (gate: 'paper' rollout gate or heta's per-layer gate)."
    g = {"paper": dict(gate="paper", normalize="none", unit="token", gate_pred=1.0, gate_power=1.0, beta=0.5, gamma=0.5),
         "classic": dict(gate="layer", normalize="sum", unit="token", gate_pred=1.0, gate_power=1.0, beta=0.5, gamma=0.5)}
    for pred in (1.0, 0.0):
        for power in (1.0, 0.5, 0.0):
            if power == 0.0 and pred == 0.0: continue          # a uniform gate has no predicting-position weight
            for nz in ("sum", "rank"):
                for unit in ("token", "word"):
                    for beta in (0.5, 0.75):
                        name = f"pred{pred:g}-pow{power:g}-{nz}-{unit}-b{beta:g}"
                        g[name] = dict(gate="layer", normalize=nz, unit=unit, gate_pred=pred, gate_power=power,
                                       beta=beta, gamma=1 - beta)
    return g


def position_classes(case) -> np.ndarray:
    """One label per context token: pred (the predicting position), sink (position 0), template (chat template,
    special tokens, a generated answer prefix), query (the question, instruction or sentence end after the annotated
    passages), evidence (or antecedent, or gold), distractor (or the irrelevant clause), other."""
    t = case.target
    T = t.target_pos
    s0, s1 = t.source_span or (0, len(t.text))
    marked = list(case.evidence or []) + list(case.distractor or []) + list(case.gold or [])
    last = max(marked, default=-1)
    lab = np.array(["other"] * T, dtype=object)
    for i, (a, b) in enumerate(t.context_offsets):
        if b <= a or a >= s1 or b <= s0: lab[i] = "template"
        elif i > last: lab[i] = "query"
    for i in case.distractor or []: lab[i] = "distractor"
    for i in list(case.evidence or []) + list(case.gold or []): lab[i] = "evidence"
    lab[0] = "sink"
    lab[T - 1] = "pred"
    return lab


def class_mass(scores, labels) -> dict:
    "Share of the |scores| mass on each position class (sums to 1)."
    s = np.abs(np.asarray(scores, dtype=np.float64))
    tot = s.sum()
    return {c: float(s[labels == c].sum() / tot) if tot > 0 else 0.0 for c in CLASSES}


def components(model, case, n_probes=N_PROBES, seed=SEED) -> dict:
    "Every component any configuration needs, computed once, with the seconds each took."
    from heta.flow import semantic_flow, FLOW_PRESETS
    from heta.curvature import hessian_sensitivity
    from heta.information import kl_information, unit_information, word_units
    t, out, secs = case.target, {}, {}
    jobs = {"gate": lambda: semantic_flow(model, t),
            "gate_paper": lambda: semantic_flow(model, t, **FLOW_PRESETS["paper"]),
            "S": lambda: hessian_sensitivity(model, t, mode="gauss-newton", n_probes=n_probes, seed=seed),
            "I": lambda: kl_information(model, t, use_cache=True),
            "I_word": lambda: unit_information(model, t, word_units(t.context_tokens, t.context_offsets), use_cache=True)}
    for k, f in jobs.items():
        t0 = time.perf_counter(); out[k] = [float(x) for x in f()]; secs[k] = time.perf_counter() - t0
    return dict(out, seconds=secs)


def config_scores(comp:dict, cfg:dict) -> torch.Tensor:
    from heta.attribution import combine
    gate = comp["gate_paper"] if cfg["gate"] == "paper" else comp["gate"]
    I = comp["I_word"] if cfg["unit"] == "word" else comp["I"]
    return combine(torch.tensor(gate), torch.tensor(comp["S"]), torch.tensor(I), cfg["beta"], cfg["gamma"],
                   cfg["normalize"], cfg["gate_pred"], cfg["gate_power"])


def free_metrics(case, scores) -> dict:
    "The metrics that need no model call: agreement with the annotations."
    from heta.metrics import dsa, token_f1, reciprocal_rank, top1, mass_share
    out = {}
    if case.gold:
        out.update(f1=token_f1(scores.numpy(), case.gold), mrr=reciprocal_rank(scores.numpy(), case.gold),
                   top1=top1(scores.numpy(), case.gold))
    if case.evidence and case.distractor:
        out.update(dsa=dsa(scores.numpy(), case.evidence, case.distractor),
                   distractor_mass=mass_share(scores.numpy(), case.distractor))
    return out


def soft_many(model, case, score_list:list, seed:int, draws:int=DRAWS) -> list:
    """Soft-NS and soft-NC of several score vectors for one case in one batched pass: the same masks and numbers as
    `heta.metrics.soft_scores(model, s, case.target, draws=draws, seed=seed)` for each s, with the two reference
    forwards (nothing masked, everything masked) shared."""
    from heta.metrics import draw_uniforms, to_distribution, masked_logprobs, hellinger_d
    t = case.target
    U = draw_uniforms(t.target_pos, model.get_input_embeddings().weight.shape[1], draws, seed)
    keeps = [torch.ones_like(U[:1]), torch.zeros_like(U[:1])]
    for s in score_list:
        suff = U < torch.as_tensor(to_distribution(np.abs(np.asarray(s, dtype=np.float64))))[None, :, None]
        keeps += [suff.double(), (~suff).double()]
    lp = masked_logprobs(model, t, torch.cat(keeps))
    q, d0 = lp[0], float(hellinger_d(lp[1], lp[0]))
    out = []
    for k in range(len(score_list)):
        a = 2 + 2 * draws * k
        ns = (1 - hellinger_d(lp[a:a + draws], q) / d0).clamp_min(0)
        nc = hellinger_d(lp[a + draws:a + 2 * draws], q) / d0
        out.append(dict(soft_ns=float(ns.mean()), soft_nc=float(nc.mean())))
    return out


def _jsonl(path) -> list:
    if not Path(path).exists(): return []
    out = []
    for line in Path(path).read_text().splitlines():
        try: out.append(json.loads(line))
        except json.JSONDecodeError: pass      # a line cut by a kill: recomputed
    return out


def _append(path, rec):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n"); f.flush(); os.fsync(f.fileno())


def run_dev(model_name:str, splits=DEV, limit:int=None, components_only:bool=False):
    "Components and free metrics of every configuration on the dev splits, then soft metrics of the candidates (resumable)."
    from heta.models import load_model
    from heta.evaluate import prepare_cases, case_seed
    model, tok = load_model(model_name)
    out = OUT / model_name; cache = out / "cache"; cache.mkdir(parents=True, exist_ok=True)
    G, data = grid(), {}
    for split in splits:
        name, fam = split.replace(":", "-"), split.split(":")[0]     # cases and components are cached per dataset
        cases, dropped = prepare_cases(model, tok, split, cache=cache / f"cases-{fam}.jsonl", progress=True)
        cases = subset(cases, fam, DEV_LIMIT)
        print(f"{split}: {len(cases)} cases ({len(dropped)} items dropped)", flush=True)
        comps = {r["id"]: r for r in _jsonl(cache / f"components-{fam}.jsonl")}
        done = {(r["id"], r["config"]) for r in _jsonl(cache / f"metrics-{name}.jsonl")}
        for k, case in enumerate(cases):
            if case.id not in comps:
                comps[case.id] = dict(id=case.id, **components(model, case))
                _append(cache / f"components-{fam}.jsonl", comps[case.id])
            if components_only: continue
            comp, labels = comps[case.id], position_classes(case)
            for cname, cfg in G.items():
                if (case.id, cname) in done: continue
                sc = config_scores(comp, cfg)
                _append(cache / f"metrics-{name}.jsonl", dict(id=case.id, split=split, config=cname, **free_metrics(case, sc),
                        **{f"mass_{c}": v for c, v in class_mass(sc.numpy(), labels).items()}))
            print(f"  {split} {k + 1}/{len(cases)} {case.id} {comps[case.id]['seconds']}", flush=True)
        write_class_mass(out / f"class_mass-{name}.csv", cases, comps)
        data[split] = (cases, comps)
    if components_only: return
    cands = candidates(model_name, splits)
    print("candidates:", cands, flush=True)
    for split, (cases, comps) in data.items():
        name = split.replace(":", "-")
        done = {(r["id"], r["config"]) for r in _jsonl(cache / f"soft-{name}.jsonl")}
        for case in cases:
            todo = [c for c in cands if (case.id, c) not in done]
            if not todo: continue
            res = soft_many(model, case, [config_scores(comps[case.id], G[c]).numpy() for c in todo], case_seed(SEED, case.id))
            for c, r in zip(todo, res): _append(cache / f"soft-{name}.jsonl", dict(id=case.id, split=split, config=c, **r))
    summarise_dev(model_name, splits)


def _free_table(model_name, splits=DEV):
    import pandas as pd
    recs = [r for s in splits for r in _jsonl(OUT / model_name / "cache" / f"metrics-{s.replace(':', '-')}.jsonl")]
    return pd.DataFrame(recs)


def candidates(model_name:str, splits=DEV) -> list:
    "Stage 1 of RULE: the grid's best N_CANDIDATES by mean rank over the free metrics, then the paper and classic presets."
    df = _free_table(model_name, splits)
    means = {m: df[df.split == where].groupby("config", sort=False)[m].mean() for m, where in FREE_METRICS.items()}
    import pandas as pd
    t = pd.DataFrame(means)
    t["free_rank"] = t.rank(ascending=False, method="average").mean(axis=1)
    best = [c for c in t.sort_values("free_rank", kind="stable").index if c not in ("paper", "classic")][:N_CANDIDATES]
    return best + ["paper", "classic"]


def component_series(comp:dict) -> dict:
    "The series whose mass the diagnosis tracks: each component, and the final scores of the two reference presets."
    G = grid()
    out = {k: np.asarray(comp[k]) for k in ("gate", "gate_paper", "S", "I", "I_word")}
    out.update({f"heta:{c}": config_scores(comp, G[c]).numpy() for c in ("paper", "classic")})
    return out


def write_class_mass(path, cases, comps:dict, extra:dict=None):
    "Mean share of each series' mass per position class, and the mean share of tokens in each class, as a CSV."
    import pandas as pd
    acc, share = {}, []
    for case in cases:
        labels = position_classes(case)
        share.append({c: float((labels == c).mean()) for c in CLASSES})
        series = component_series(comps[case.id])
        series.update((extra or {}).get(case.id, {}))
        for k, v in series.items(): acc.setdefault(k, []).append(class_mass(v, labels))
    rows = [dict(series="(tokens)", n=len(share), **{c: float(np.mean([x[c] for x in share])) for c in CLASSES})]
    rows += [dict(series=k, n=len(v), **{c: float(np.mean([x[c] for x in v])) for c in CLASSES}) for k, v in acc.items()]
    pd.DataFrame(rows).round(5).to_csv(path, index=False)


def _boot_ci(v, seed=0, n=2000):
    v = np.asarray(v, dtype=np.float64)
    rng = np.random.default_rng(seed)
    m = v[rng.integers(0, len(v), (n, len(v)))].mean(1)
    return float(np.percentile(m, 2.5)), float(np.percentile(m, 97.5))


def summarise_dev(model_name:str, splits=DEV):
    "dev_grid.csv (mean and 95% CI per configuration and metric) and selection.json (the configuration chosen by RULE)."
    import pandas as pd
    out = OUT / model_name
    free = _free_table(model_name, splits)
    soft = pd.DataFrame([r for s in splits for r in _jsonl(out / "cache" / f"soft-{s.replace(':', '-')}.jsonl")])
    df = free.merge(soft, on=["id", "split", "config"], how="left")
    cands = candidates(model_name, splits)
    rows = []
    for cname, d in df.groupby("config", sort=False):
        row = dict(config=cname, n=int(d.id.nunique()), candidate=cname in cands)
        for m, where in SELECT_METRICS.items():
            v = (d if where == "all" else d[d.split == where])[m].dropna().values
            row[m] = float(v.mean()) if len(v) else np.nan
            row[m + "_lo"], row[m + "_hi"] = _boot_ci(v) if len(v) else (np.nan, np.nan)
        for extra, col, where in (("top1", "top1", "longrange:dev"), ("distractor_mass", "distractor_mass", "longrange:dev"),
                                  ("mrr_curated", "mrr", "curated:dev")):
            v = d[d.split == where][col].dropna().values
            row[extra] = float(v.mean()) if len(v) else np.nan
        for c in CLASSES: row["mass_" + c] = float(d["mass_" + c].mean())
        rows.append(row)
    tab = pd.DataFrame(rows).set_index("config")
    tab["free_rank"] = tab[list(FREE_METRICS)].rank(ascending=False, method="average").mean(axis=1)
    paper = df[df.config == "paper"].set_index("id")
    tab["eligible"] = False
    for cname in cands:
        d = df[df.config == cname].set_index("id")
        worse = False
        for m in ("soft_ns", "soft_nc"):
            lo, hi = _boot_ci((d[m] - paper.loc[d.index, m]).values)
            tab.loc[cname, f"{m}_vs_paper_lo"], tab.loc[cname, f"{m}_vs_paper_hi"] = lo, hi
            worse |= hi < 0
        tab.loc[cname, "eligible"] = not worse
    c = tab.loc[cands]
    ranks = pd.DataFrame({m: c[m].rank(ascending=False, method="average") for m in SELECT_METRICS})
    tab.loc[cands, "mean_rank"] = ranks.mean(axis=1)
    elig = tab.loc[[x for x in cands if x not in ("paper", "classic") and tab.loc[x, "eligible"]]]
    best = elig.mean_rank.idxmin()
    tab.round(5).to_csv(out / "dev_grid.csv")
    sel = dict(model=model_name, selected=best, settings=grid()[best], rule=RULE, candidates=cands,
               n_cases={s: int(df[df.split == s].id.nunique()) for s in splits},
               n_eligible=int(tab.loc[[x for x in cands if x not in ("paper", "classic")], "eligible"].sum()),
               n_configs=len(tab))
    (out / "selection.json").write_text(json.dumps(sel, indent=1))
    print(json.dumps(sel, indent=1))
    return tab, sel


def run_diagnose(model_name:str, dataset:str="toy", limit:int=100):
    "Mass by position class of each component and preset on a dataset (the toy task by default)."
    from heta.models import load_model
    from heta.evaluate import prepare_cases
    model, tok = load_model(model_name)
    out = OUT / model_name; out.mkdir(parents=True, exist_ok=True)
    cases, _ = prepare_cases(model, tok, dataset, limit=limit)
    comps = {case.id: components(model, case) for case in cases}
    write_class_mass(out / f"class_mass-{dataset.replace(':', '-')}.csv", cases, comps)
    print(Path(out / f"class_mass-{dataset.replace(':', '-')}.csv").read_text())


def run_demo(model_name:str):
    "The running example under each preset: top tokens, and the share of the gate and of the scores on the predicting position."
    from heta.models import load_model
    from heta.attribution import HETA, PRESETS
    from heta.cli import DEMO_TEXT, DEMO_TARGET
    model, tok = load_model(model_name)
    res = {}
    for preset in PRESETS:
        opts = {"curvature": "gauss-newton"} if preset != "grounded" else {}
        a = HETA(model, tok, preset=preset, **opts).attribute(DEMO_TEXT, target=DEMO_TARGET)
        top = a.topk(5)
        if preset in ("grounded", "classic"):
            from heta.viz import svg_heatmap
            (OUT / model_name).mkdir(parents=True, exist_ok=True)
            (OUT / model_name / f"demo-{preset}.svg").write_text(svg_heatmap(
                a.tokens, a.scores, target=DEMO_TARGET, uid=f"demo-{preset}", width=64,
                title=f"HETA ({preset} preset), {model_name}: why ' slice'?"))
        res[preset] = dict(top=[(t, round(s, 5)) for _, t, s in top], gate_pred=round(float(a.gate[-1]), 4),
                           score_pred=round(float(a.scores[-1] / a.scores.sum()), 4),
                           ratio_1_2=round(top[0][2] / top[1][2], 2), curvature=a.settings["curvature"],
                           seconds=round(a.seconds, 1))
    (OUT / model_name).mkdir(parents=True, exist_ok=True)
    (OUT / model_name / "demo.json").write_text(json.dumps(dict(text=DEMO_TEXT, target=DEMO_TARGET, presets=res), indent=1))
    print(json.dumps(res, indent=1))


BASELINES = ("occlusion", "ig", "saliency", "input-x-gradient", "rollout", "attention", "last-token", "recency", "random")
HETA_METHODS = {"heta": None, "heta-paper": "paper", "heta-classic": "classic"}   # None: the selected configuration
TEST_LIMIT = {"curated": 24, "longrange": 3}


def baseline_scores(model, tok, case) -> dict:
    "Every baseline's scores for one case, with the seconds each took."
    from heta.baselines import make_explainer
    out, secs = {}, {}
    for m in BASELINES:
        t0 = time.perf_counter()
        out[m] = [float(x) for x in make_explainer(m, model, tok).attribute_target(case.target).scores]
        secs[m] = time.perf_counter() - t0
    return dict(out, seconds=secs)


def run_test(model_name:str, splits=TEST, finalise:bool=True):
    """Every method on the test splits: components and baseline scores first (cached; they do not depend on the
    selection), then, once selection.json exists, the metrics of every method, with the soft metrics of all methods of
    a case in one batched pass (the same masks and values as `heta evaluate`; no deletion/insertion curves here)."""
    from heta.models import load_model
    from heta.evaluate import prepare_cases, case_seed
    from heta.baselines import ablation_scores
    model, tok = load_model(model_name)
    out = OUT / model_name; cache = out / "cache"; cache.mkdir(parents=True, exist_ok=True)
    own, default = out / "selection.json", OUT / "smollm2-135m" / "selection.json"   # other models test SmolLM2's choice
    sel = json.loads((own if own.exists() else default).read_text()) if (own.exists() or default.exists()) else None
    G = grid()
    for split in splits:
        name, fam = split.replace(":", "-"), split.split(":")[0]
        cases, dropped = prepare_cases(model, tok, split, cache=cache / f"cases-{fam}.jsonl", progress=True)
        cases = subset(cases, fam, TEST_LIMIT)
        print(f"{split}: {len(cases)} cases ({len(dropped)} items dropped)", flush=True)
        comps = {r["id"]: r for r in _jsonl(cache / f"components-{name}.jsonl")}   # one file per process: dev and test run at once
        bases = {r["id"]: r for r in _jsonl(cache / f"baselines-{name}.jsonl")}
        for k, case in enumerate(cases):
            if case.id not in comps:
                comps[case.id] = dict(id=case.id, **components(model, case)); _append(cache / f"components-{name}.jsonl", comps[case.id])
            if case.id not in bases:
                bases[case.id] = dict(id=case.id, **baseline_scores(model, tok, case)); _append(cache / f"baselines-{name}.jsonl", bases[case.id])
            print(f"  {split} {k + 1}/{len(cases)} {case.id}", flush=True)
        if sel is None or not finalise: continue
        rec_path = cache / f"test-{name}.jsonl"
        done = {r["id"] for r in _jsonl(rec_path)}
        for case in cases:
            if case.id in done: continue
            comp, base = comps[case.id], bases[case.id]
            cfgs = {m: G[p] if p else sel["settings"] for m, p in HETA_METHODS.items()}
            scores = {m: config_scores(comp, c).numpy() for m, c in cfgs.items()}
            c = cfgs["heta"]
            gate = comp["gate_paper"] if c["gate"] == "paper" else comp["gate"]
            abl = ablation_scores(torch.tensor(gate), torch.tensor(comp["S"]), torch.tensor(comp["I_word" if c["unit"] == "word" else "I"]),
                                  c["normalize"], c["gate_pred"], c["gate_power"])
            scores.update({k: v.numpy() for k, v in abl.items()})
            scores.update({m: np.asarray(base[m]) for m in BASELINES})
            soft = soft_many(model, case, list(scores.values()), case_seed(SEED, case.id))
            comp_secs = sum(comp["seconds"].values())
            for (m, s), so in zip(scores.items(), soft):
                secs = base["seconds"][m] if m in BASELINES else comp_secs
                _append(rec_path, dict(id=case.id, method=m, **so, **free_metrics(case, torch.as_tensor(s)), seconds=secs,
                                       **{f"mass_{c}": v for c, v in class_mass(s, position_classes(case)).items()}))
        summarise_test(model_name, split)


def summarise_test(model_name:str, split:str):
    "test-<split>.csv: per method, the mean and 95% bootstrap CI of every metric, and seconds per case."
    import pandas as pd
    df = pd.DataFrame(_jsonl(OUT / model_name / "cache" / f"test-{split.replace(':', '-')}.jsonl"))
    rows = []
    for m, d in df.groupby("method", sort=False):
        row = dict(method=m, n=int(d.id.nunique()))
        for k in ("soft_ns", "soft_nc", "dsa", "f1", "mrr", "top1", "distractor_mass", "mass_pred"):
            if k not in d or d[k].isna().all(): continue
            v = d[k].dropna().values
            row[k] = float(v.mean()); row[k + "_lo"], row[k + "_hi"] = _boot_ci(v)
        row["seconds"] = float(d.seconds.mean())
        rows.append(row)
    t = pd.DataFrame(rows).set_index("method")
    t.round(5).to_csv(OUT / model_name / f"test-{split.replace(':', '-')}.csv")
    print(split); print(t[[c for c in t.columns if not c.endswith(("_lo", "_hi"))]].round(3).to_string())
    return t


SHOW = {"curated-test": ["soft_ns", "soft_nc", "dsa", "f1"],
        "longrange-test": ["soft_ns", "soft_nc", "mrr", "top1", "distractor_mass"]}
LOWER = {"distractor_mass"}


def markdown_table(t, cols) -> str:
    "Mean [95% CI] per method and metric, best per column in bold (lowest for the columns in LOWER)."
    cols = [c for c in cols if c in t]
    best = {c: (t[c].min() if c in LOWER else t[c].max()) for c in cols}
    lines = ["| method | n | " + " | ".join(c + (" ↓" if c in LOWER else "") for c in cols) + " | s/case |",
             "|---|---|" + "---|" * len(cols) + "---|"]
    for m, r in t.iterrows():
        cells = [("**{}**" if r[c] == best[c] else "{}").format(f"{r[c]:.3f} [{r[c + '_lo']:.2f}, {r[c + '_hi']:.2f}]") for c in cols]
        lines.append(f"| {m} | {int(r['n'])} | " + " | ".join(cells) + f" | {r['seconds']:.3g} |")
    return "\n".join(lines)


def shortcut_margins(t, cols) -> str:
    "How far the default HETA is above (or below) the two shortcut baselines, per metric."
    out = []
    for c in [c for c in cols if c in t]:
        sign = -1 if c in LOWER else 1
        out.append(f"{c} {sign * (t.loc['heta', c] - t.loc['last-token', c]):+.3f} / {sign * (t.loc['heta', c] - t.loc['recency', c]):+.3f}")
    return "; ".join(out)


def standing(t, metric) -> tuple:
    "Default HETA's rank on one metric of a test table, the methods above it, and those whose CIs lie clear of HETA's."
    lower = metric in LOWER
    order = t[metric].sort_values(ascending=lower)
    rank = list(order.index).index("heta") + 1
    h_lo, h_hi = t.loc["heta", metric + "_lo"], t.loc["heta", metric + "_hi"]
    above = list(order.index[:rank - 1])
    clear = [m for m in above if (t.loc[m, metric + "_hi"] < h_lo if lower else t.loc[m, metric + "_lo"] > h_hi)]
    return rank, len(t), above, clear


def verdict(t, metric) -> str:
    "Where default HETA stands on one metric, in words: best, tied (overlapping CIs) or below (CIs apart)."
    rank, n, above, clear = standing(t, metric)
    if rank == 1: return f"rank 1 of {n}: best"
    tied = [m for m in above if m not in clear]
    words = ([f"below {', '.join(clear)} (intervals apart)"] if clear else []) + ([f"tied with {', '.join(tied)}"] if tied else [])
    return f"rank {rank} of {n}: " + "; ".join(words)


def write_readme(models=("smollm2-135m", "gemma3-270m")):
    "results/grounding/readme.md: the test tables and the shortcut margins, pasted into nbs/index.ipynb (checked there)."
    import pandas as pd
    parts = []
    demo, sel = OUT / "smollm2-135m" / "demo.json", OUT / "smollm2-135m" / "selection.json"
    if demo.exists() and sel.exists():
        d, c = json.loads(demo.read_text())["presets"], json.loads(sel.read_text())
        top = lambda p: ", ".join(repr(t) for t, _ in d[p]["top"][:5])
        parts += [f"On the running example (SmolLM2-135M), heta 0.1's default (`classic`) ranked {top('classic')} first, "
                  f"the top token {d['classic']['ratio_1_2']}x the runner-up, with {d['classic']['score_pred']:.2f} of the score "
                  f"on the token before the target; the paper's formula (`paper`) ranked {top('paper')}; the default (`grounded`) "
                  f"ranks {top('grounded')}, with {d['grounded']['score_pred']:.2f} on the token before the target.", "",
                  f"The default was selected on the dev halves ({', '.join(f'{k}: {v} cases' for k, v in c['n_cases'].items())}) "
                  f"as `{c['selected']}`, by a rule fixed before the test halves were scored (`nbs/studies/grounding_run.py`). "
                  "On the held-out halves:", ""]
    for model in models:
        for split, cols in SHOW.items():
            f = OUT / model / f"test-{split}.csv"
            if not f.exists(): continue
            t = pd.read_csv(f).set_index("method")
            parts += [f"**{model}, {split}** (mean [95% bootstrap CI], best in bold)", "", markdown_table(t, cols), "",
                      f"Default HETA minus last-token / minus recency (positive: better): {shortcut_margins(t, cols)}.", "",
                      "Where default HETA stands (intervals that overlap count as a tie at this sample size):", ""]
            parts += [f"- **{c}**: {verdict(t, c)}" for c in cols if c in t] + [""]
    (OUT / "readme.md").write_text("\n".join(parts).strip() + "\n")
    print((OUT / "readme.md").read_text())
    paste_into_index((OUT / "readme.md").read_text().strip())


def paste_into_index(snippet:str, index=HERE.parent / "index.ipynb"):
    "Put the snippet between the grounding markers of nbs/index.ipynb (then `make readme` writes README.md)."
    nb = json.loads(index.read_text(encoding="utf-8"))
    for c in nb["cells"]:
        s = "".join(c["source"])
        if "<!-- grounding:start" not in s: continue
        head, rest = s.split("<!-- grounding:start", 1)
        marker, _ = rest.split("-->", 1)
        _, tail = rest.split("<!-- grounding:end -->", 1)
        s = f"{head}<!-- grounding:start{marker}-->\n{snippet}\n<!-- grounding:end -->{tail}"
        lines = s.split("\n")
        c["source"] = [l + "\n" for l in lines[:-1]] + [lines[-1]]
    index.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["components", "dev", "summarise", "test", "diagnose", "demo", "readme"])
    p.add_argument("--splits", default=None, help="comma-separated dataset names (default: the dev splits)")
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--dataset", default="toy", help="for diagnose")
    p.add_argument("--every", type=int, default=None, help="use every k-th long-range test case (default: TEST_LIMIT)")
    a = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if a.every: TEST_LIMIT["longrange"] = a.every
    splits = a.splits.split(",") if a.splits else DEV
    if a.what in ("dev", "components"): run_dev(a.model, splits, limit=a.limit, components_only=a.what == "components")
    elif a.what == "summarise": summarise_dev(a.model)
    elif a.what == "test": run_test(a.model, a.splits.split(",") if a.splits else TEST)
    elif a.what == "demo": run_demo(a.model)
    elif a.what == "readme": write_readme()
    else: run_diagnose(a.model, a.dataset, a.limit or 100)
