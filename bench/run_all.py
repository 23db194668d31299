"""Run every benchmark script in bench/ in turn."""
import subprocess, sys
from pathlib import Path
here = Path(__file__).parent
scripts = sorted(p for p in here.glob("bench_*.py"))
if not scripts: print("no benchmarks yet")
for p in scripts:
    print(f"== {p.name}", flush=True)
    subprocess.run([sys.executable, str(p)], check=True)
