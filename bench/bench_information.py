"""KL information (heta.information): batched vs the naive per-token loop, with and without the key/value cache.

Model: a randomly initialised GPT-2-small-sized model (12 layers, d=768, 12 heads); random contexts of
64 and 256 tokens; mask="zero"; batch_size 32 (the default) and 8. Times are the minimum of --repeats runs.

At 64 tokens every method runs in full. A full 256-token run takes minutes per method on one CPU thread,
so there each method computes a sample of the variants and is scaled up (the clean forward pass, which
every method pays once, is timed apart and counted once):
  * naive loop: every variant is one 256-token forward pass, so 32 of them times 256/32 is exact up to noise;
  * plain batched: every chunk costs the same, so chunk [0, bs) times 256/bs;
  * cached batched: chunk [a, a+bs) gets cheaper as a grows; chunks a = 0, 128, 256-bs are timed and the
    others are interpolated linearly in a.
Pass --full to run naive, batched and cached (batch_size 32) in full at 256 tokens (about 10 minutes on one thread).

--out FILE writes the rows as JSON (chapter 04 renders bench/results/information.json).

Usage: python bench/bench_information.py [--threads N] [--repeats R] [--full] [--out FILE]   (or env HETA_BENCH_THREADS=N)
"""
import argparse, datetime, json, os, time
import numpy as np
import torch
from heta.models import tiny_gpt2, prepare_model
from heta.targets import Target, input_embeddings
from heta.information import kl_information, kl_information_naive

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=int(os.environ.get("HETA_BENCH_THREADS", 1)))
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--full", action="store_true")
ap.add_argument("--out", help="write the rows as JSON here")
args = ap.parse_args()
torch.set_num_threads(args.threads)
BS = 32

def best(f, r=args.repeats):
    ts = []
    for _ in range(r):
        s = time.perf_counter(); out = f(); ts.append(time.perf_counter() - s)
    return min(ts), out

def random_target(T, seed=0):
    ids = torch.randint(0, 50257, (T + 1,), generator=torch.Generator().manual_seed(seed))
    return Target("", ids, [(0, 0)] * (T + 1), T)

model = prepare_model(tiny_gpt2(n_layer=12, n_embd=768, n_head=12, n_positions=1024))
print(f"GPT-2-small-sized random model (12 layers, d=768), torch threads = {torch.get_num_threads()}, "
      f"batch_size = {BS}, min of {args.repeats}")
print(f"{'T':>4s} {'method':>16s} {'seconds':>9s} {'naive/this':>10s}  note")

ROWS = []
def row(T, name, sec, naive, note="", diff=None):
    print(f"{T:4d} {name:>16s} {sec:9.2f} {naive / sec:10.2f}  {note}", flush=True)
    ROWS.append(dict(tokens=T, method=name, seconds=round(sec, 2), speedup=round(naive / sec, 2), note=note,
                     max_abs_diff_vs_naive=None if diff is None else float(diff)))

# --- 64 tokens: everything in full
t = random_target(64)
tn, ref = best(lambda: kl_information_naive(model, t))
row(64, "naive loop", tn, tn)
for bs in (BS, 8):
    tb, I = best(lambda: kl_information(model, t, batch_size=bs, use_cache=False))
    tc, Ic = best(lambda: kl_information(model, t, batch_size=bs, use_cache=True))
    row(64, f"batched bs={bs}", tb, tn, f"max|diff| vs naive {(I - ref).abs().max():.1e}", (I - ref).abs().max())
    row(64, f"+cache bs={bs}", tc, tn, f"max|diff| vs naive {(Ic - ref).abs().max():.1e}", (Ic - ref).abs().max())

# --- 256 tokens
T = 256
t = random_target(T, seed=1)
if args.full:
    tn, ref = best(lambda: kl_information_naive(model, t), 1)
    tb, I = best(lambda: kl_information(model, t, batch_size=BS, use_cache=False), 1)
    tc, Ic = best(lambda: kl_information(model, t, batch_size=BS, use_cache=True), 1)
    row(T, "naive loop", tn, tn); row(T, f"batched bs={BS}", tb, tn, f"max|diff| vs naive {(I - ref).abs().max():.1e}")
    row(T, f"+cache bs={BS}", tc, tn, f"max|diff| vs naive {(Ic - ref).abs().max():.1e}")
else:
    X = input_embeddings(model, t.context_ids)
    def clean():
        with torch.no_grad(): model.base_model(inputs_embeds=X, use_cache=False)
    t0, _ = best(clean)                                   # the one clean forward every method pays once
    k = 32
    naive_pos = list(range(0, T, T // k))
    tn_s, ref = best(lambda: kl_information_naive(model, t, positions=naive_pos), 1)
    tn = t0 + (tn_s - t0) * T / k
    row(T, "naive loop", tn, tn, f"estimated from {k} of {T} variants")
    for bs in (BS, 8):
        # plain batched: all chunks cost the same, so one chunk [0, bs) times T/bs is the full run
        tb_s, I = best(lambda: kl_information(model, t, batch_size=bs, use_cache=False, positions=range(bs)), 1)
        chunk0 = tb_s - t0
        tb = t0 + chunk0 * T / bs
        # cached: chunk [a, a+bs) gets cheaper as a grows; time two more chunks (chunk 0 is the plain one)
        chunks = {0: chunk0}
        for a in (T // 2, T - bs):
            ta, _ = best(lambda: kl_information(model, t, batch_size=bs, use_cache=True, positions=range(a, a + bs)), 1)
            chunks[a] = ta - t0
        tc = t0 + float(np.interp(range(0, T, bs), list(chunks), list(chunks.values())).sum())
        common = [i for i in naive_pos if i < bs]   # positions both samples computed
        diff = (I[common] - ref[[naive_pos.index(i) for i in common]]).abs().max()
        row(T, f"batched bs={bs}", tb, tn, f"one chunk of {bs} timed, x {T // bs} chunks; max|diff| vs naive {diff:.1e}", diff)
        row(T, f"+cache bs={bs}", tc, tn, "chunks a=" + ", ".join(f"{a} ({s:.1f}s)" for a, s in chunks.items())
            + f" timed, the other {T // bs - 3} interpolated")

if args.out:
    with open(args.out, "w") as f:
        json.dump(dict(date=str(datetime.date.today()), machine=f"{os.cpu_count()} CPU cores", threads=torch.get_num_threads(),
                       repeats=args.repeats, load_avg_1min=round(os.getloadavg()[0], 2), full=args.full, rows=ROWS), f, indent=1)
    print(f"wrote {args.out}")
