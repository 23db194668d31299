"""The slow half of the metric-behaviour study (nbs/studies/metric_behaviour.ipynb): how the metrics of chapter 07 rank
every registered method where the answer is known, how stable each method is, and how much it agrees with itself
across paraphrases.

Three parts, each writing a small result file under results/metric_behaviour/ (a part whose file exists is skipped,
so an interrupted run resumes; --force recomputes):
  * toy.csv:        the benchmark runner (chapter 08b) on the toy recall task, every registered explainer, every
                    registered metric the cases allow (HETA methods with Gauss-Newton curvature, 10 probes), 50 cases;
  * stability.csv:  avg-sensitivity of each explainer on 10 toy cases (4 noise draws at sigma = 0.05; lower is stabler);
  * paraphrase.csv: paraphrase agreement on SmolLM2-135M, four active/passive pairs written for this study.

    python nbs/studies/metric_behaviour_run.py [--force]
"""
from __future__ import annotations
import argparse, json, tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE/"results"/"metric_behaviour"
TOY_CASES, STABILITY_CASES = 50, 10
# Active and passive phrasings with a shared continuation (written for this study).
PARA = [("The chef cooked the soup, and everyone said it tasted", "The soup was cooked by the chef, and everyone said it tasted", " delicious"),
        ("The dog chased the cat all the way up the", "The cat was chased by the dog all the way up the", " tree"),
        ("The teacher praised the student because her answer was", "The student was praised by the teacher because her answer was", " correct"),
        ("The storm destroyed the old bridge, so the town had to build a new", "The old bridge was destroyed by the storm, so the town had to build a new", " one")]
PARA_METHODS = ["heta", "heta-S", "heta-I", "attention", "rollout", "saliency", "input-x-gradient", "occlusion"]


def heta_options(names, probes=10) -> dict:
    return {m: {"curvature": "gauss-newton", "n_probes": probes} for m in names if m == "heta" or m.startswith("heta-")}


def toy_table(path:Path):
    from heta.baselines import EXPLAINERS
    from heta.evaluate import run
    methods = list(EXPLAINERS)
    with tempfile.TemporaryDirectory() as d:
        tab = run("toy-gpt2", "toy", methods, d, limit=TOY_CASES, progress=True, options=heta_options(methods))
    tab.drop(columns=["seconds"]).to_csv(path)


def stability(path:Path):
    import numpy as np, pandas as pd
    from heta.baselines import EXPLAINERS, make_explainer
    from heta.data import toy_cases
    from heta.metrics import sensitivity
    from heta.models import load_model
    toy, tok = load_model("toy-gpt2")
    cases = toy_cases(tok, STABILITY_CASES, seed=3)
    rows = []
    for m in EXPLAINERS:
        ex = make_explainer(m, toy, tok, **heta_options([m]).get(m, {}))
        v = [sensitivity(ex, c.target, sigma=0.05, samples=4, reduce="mean") for c in cases]
        rows.append(dict(method=m, sensitivity=float(np.mean(v)), se=float(np.std(v, ddof=1) / np.sqrt(len(v)))))
        print(m, rows[-1]["sensitivity"])
    pd.DataFrame(rows).to_csv(path, index=False)


def paraphrase(path:Path):
    import pandas as pd
    from heta.baselines import make_explainer
    from heta.metrics import paraphrase_agreement
    from heta.models import load_model
    model, tok = load_model("smollm2-135m")
    rows = []
    for m in PARA_METHODS:
        ex = make_explainer(m, model, tok, **heta_options([m]).get(m, {}))
        for active, passive, y in PARA:
            rows.append(dict(method=m, target=y, agreement=paraphrase_agreement(ex.attribute(active, target=y), ex.attribute(passive, target=y))))
        print(m, [round(r["agreement"], 2) for r in rows[-len(PARA):]])
    pd.DataFrame(rows).to_csv(path, index=False)


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--force", action="store_true"); a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, part in (("toy.csv", toy_table), ("stability.csv", stability), ("paraphrase.csv", paraphrase)):
        if (OUT/name).exists() and not a.force: print(f"{name}: exists, skipped"); continue
        part(OUT/name); print(f"wrote {OUT/name}")
    (OUT/"settings.json").write_text(json.dumps(dict(toy_cases=TOY_CASES, stability_cases=STABILITY_CASES, probes=10,
                                                     curvature="gauss-newton", paraphrase_pairs=len(PARA)), indent=1) + "\n")


if __name__ == "__main__":
    main()
