"""Data-parallel runs (issue 16, item 4): `heta evaluate` and `heta attribute --batch` run unchanged under
`torchrun --nproc_per_node 2` (gloo on CPU). The ranks split the cases by index, each appends to its own shard, rank 0
merges: the merged results and the summary equal a single process's, a run killed mid-way resumes to the same result,
and more processes than cases leaves the extra ones idle, with a warning. Tiny models, a few cases, cheap settings."""
import json, os, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest

ENV = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
EVAL = ["evaluate", "--model", "toy-gpt2", "--dataset", "toy", "--methods", "heta,occlusion,attention", "--limit", "6",
        "--probes", "2", "--curvature", "gauss-newton", "--quiet"]
N_EVAL = 6 * 4   # 6 cases x (random + 3 methods)
TEXTS = [{"text": "The cat sat on the", "target": " mat"}, {"text": "Cam ordered a pizza and took it", "id": "pizza"},
         {"text": "He cut a", "target": " slice"}, {"text": "Cam ordered a piz", "target": "za"},   # refused: merges with 'piz'
         {"text": "Once upon a", "target": " time"}]
BATCH = ["--model", "tiny-gpt2", "--probes", "2", "--curvature", "gauss-newton", "--quiet"]

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def heta(args, n:int=1) -> list:
    "The heta command line: a plain process (n=1), or n processes under torchrun on a free port."
    launch = ["-m", "torch.distributed.run", "--nproc_per_node", str(n), "--master_addr", "127.0.0.1",
              "--master_port", str(free_port())] if n > 1 else []
    return [sys.executable, *launch, "-m", "heta.cli", *args]

def run(args, n:int=1, **kw):
    r = subprocess.run(heta(args, n), env=ENV, capture_output=True, text=True, timeout=300, **kw)
    assert r.returncode == 0, r.stderr[-3000:]
    return r

def lines(path) -> list: return [json.loads(l) for l in Path(path).read_text().splitlines()]
def strip(recs, drop=("seconds",)) -> list: return [{k: v for k, v in r.items() if k not in drop} for r in recs]
def no_seconds(md:str) -> str: return "\n".join(l.rsplit("|", 2)[0] for l in md.splitlines())   # the last column is s/case

@pytest.fixture(scope="module")
def single(tmp_path_factory):
    "The evaluation in one plain process: the reference."
    out = tmp_path_factory.mktemp("single")
    run([*EVAL, "--out", str(out)])
    return out

def test_evaluate_two_ranks_equal_one_process(single, tmp_path):
    out = tmp_path / "two"
    r = run([*EVAL, "--out", str(out)], n=2)
    shards = [lines(out / f"results.rank{k}.jsonl") for k in (0, 1)]
    assert all(shards), "both ranks wrote results"
    ids = [{x["id"] for x in s} for s in shards]
    assert not ids[0] & ids[1]                                              # disjoint cases
    assert ids[0] | ids[1] == {x["id"] for x in lines(single / "results.jsonl")}   # together: every case
    assert sum(map(len, shards)) == N_EVAL
    assert strip(lines(out / "results.jsonl")) == strip(lines(single / "results.jsonl"))   # same records, same order
    assert no_seconds((out / "summary.md").read_text()) == no_seconds((single / "summary.md").read_text())
    assert r.stdout.count("| heta |") == 1                                   # only rank 0 reports

def test_evaluate_killed_mid_run_resumes_to_the_same_result(single, tmp_path):
    out = tmp_path / "cut"
    p = subprocess.Popen(heta([*EVAL, "--out", str(out)], n=2), env=ENV, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)   # its own group: the kill reaches every rank
    count = lambda: sum(len(q.read_bytes().splitlines()) for q in out.glob("results.rank*.jsonl"))
    t0 = time.time()
    while time.time() - t0 < 120 and count() < 4 and p.poll() is None: time.sleep(0.02)
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    n_cut = count()
    assert 4 <= n_cut < N_EVAL, n_cut                                        # killed mid-run
    assert not (out / "summary.md").exists()
    run([*EVAL, "--out", str(out)], n=2)
    assert strip(lines(out / "results.jsonl")) == strip(lines(single / "results.jsonl"))
    assert sum(len(lines(q)) for q in out.glob("results.rank*.jsonl")) == N_EVAL   # nothing computed twice
    assert no_seconds((out / "summary.md").read_text()) == no_seconds((single / "summary.md").read_text())

@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    f = tmp_path_factory.mktemp("batch") / "texts.jsonl"
    f.write_text("\n".join(json.dumps(t) for t in TEXTS) + "\n")
    return f

def test_attribute_batch_two_ranks_equal_one_process(texts, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = run(["attribute", "--batch", str(texts), "--out", str(one), *BATCH])
    run(["attribute", "--batch", str(texts), "--out", str(two), *BATCH], n=2)
    recs = lines(one / "attributions.jsonl")
    assert [x["id"] for x in recs] == ["line-1", "pizza", "line-3", "line-4", "line-5"]
    assert "merges with the end of the text" in recs[3]["error"] and "line-4 (line 4)" in r1.stdout
    assert all(len(x["scores"]) == len(x["tokens"]) and x["curvature"] and x["settings"]["n_probes"] == 2
               for x in recs if "error" not in x)
    assert strip(lines(two / "attributions.jsonl")) == strip(recs)
    shards = [{x["id"] for x in lines(two / f"attributions.rank{k}.jsonl")} for k in (0, 1)]
    assert shards == [{"line-1", "line-3", "line-5"}, {"pizza", "line-4"}]   # line i to rank i mod 2
    before = [(two / f"attributions.rank{k}.jsonl").read_text() for k in (0, 1)]
    run(["attribute", "--batch", str(texts), "--out", str(two), *BATCH], n=2)   # resumed: nothing to do
    assert [(two / f"attributions.rank{k}.jsonl").read_text() for k in (0, 1)] == before

def test_more_processes_than_lines_warns_and_does_not_hang(texts, tmp_path):
    few = tmp_path / "two.jsonl"
    few.write_text("\n".join(texts.read_text().splitlines()[:2]) + "\n")
    r = run(["attribute", "--batch", str(few), "--out", str(tmp_path / "o"), *BATCH], n=3)
    assert "3 processes for 2 lines: 1 of them have nothing to do" in r.stderr
    assert [x["id"] for x in lines(tmp_path / "o" / "attributions.jsonl")] == ["line-1", "pizza"]
    assert not (tmp_path / "o" / "attributions.rank2.jsonl").exists()

def test_batch_resume_checks_in_process(texts, tmp_path, capsys):
    "Other settings, or another text under a finished id, are refused before any model loads; a bad line is named."
    from heta.cli import main
    out = str(tmp_path / "o")
    assert main(["attribute", "--batch", str(texts), "--out", out, *BATCH]) == 0
    capsys.readouterr()
    assert main(["attribute", "--batch", str(texts), "--out", out, *BATCH[:2], "--probes", "3", "--quiet"]) == 2
    assert "holds a batch with other settings" in capsys.readouterr().err
    moved = tmp_path / "moved.jsonl"
    moved.write_text(json.dumps({"text": "A different text", "id": "pizza"}) + "\n{broken\n")
    assert main(["attribute", "--batch", str(moved), "--out", out, *BATCH]) == 2
    got = capsys.readouterr()
    assert "another text or target under the id(s) pizza" in got.err and f"{moved}:2: skipped malformed item" in got.out

def test_batch_without_a_valid_line_is_refused(tmp_path, capsys):
    from heta.cli import main
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"txt": "no text field"}\n[1, 2]\n')
    assert main(["attribute", "--batch", str(bad), "--out", str(tmp_path / "o"), *BATCH]) == 2
    assert "holds no valid line" in capsys.readouterr().err

def test_commands_that_do_not_split_refuse_a_launcher(monkeypatch, capsys):
    "Under torchrun every process would run the same single attribution: refused before any model loads."
    from heta.cli import main
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["attribute", "The cat sat", "--model", "tiny-gpt2"]) == 2
    assert "2 processes would each run the same `heta attribute`" in capsys.readouterr().err
