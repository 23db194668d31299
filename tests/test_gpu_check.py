"""bench/gpu_check.py, the script a lent GPU machine runs, works end to end: here on the CPU with tiny models."""
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_gpu_check_smoke_run_on_cpu(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", OUT=str(tmp_path))
    p = subprocess.run([sys.executable, str(ROOT/"bench"/"gpu_check.py"), "--device", "cpu", "--quick"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    res = json.loads((tmp_path/"gpu_check.json").read_text())
    assert res["parity_ok"] and all(v < 1e-4 for v in res["parity"].values())
    comps = {(r["model"], r["tokens"], r["component"], r["dtype"]) for r in res["rows"]}
    for model in ("gpt2-small", "llama-1b"):
        for c in ("information", "gauss-newton", "heta (gauss-newton)"):
            assert {(model, 16, c, "float32"), (model, 16, c, "bfloat16")} <= comps
    assert all(r["bf16_spearman"] is not None for r in res["rows"] if r["dtype"] == "bfloat16")
    assert "| model | tokens | component |" in p.stdout
