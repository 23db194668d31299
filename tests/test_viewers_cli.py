"""The terminal report (`heta.cli.report`): a single target prints exactly what it printed before; a generation lists
every generated token, with one heatmap line and one top-k table each; `heta attribute --generate` end to end on tiny-gpt2."""
import contextlib, io, re
from heta.attribution import Attribution
from heta.cli import main, report

def one():
    return Attribution(text="The un believable cat", tokens=["The", " un", " believ", "able", " cat"],
                       offsets=[(0, 3), (4, 6), (7, 13), (13, 17), (18, 21)], target={"text": " sat", "ids": [1], "pos": 5, "id": 1},
                       scores=[0.1, 0.2, 0.3, 0.4, 1.0], gate=[1, 0.5, 1, 1, 1], curvature=[5, 4, 3, 2, 1],
                       information=[0, 0, 0, 1, 2], model="hand-made", seconds=1.25)

def generation():
    "Three generated tokens; row j is zero beyond what step j saw, and step 0's seen scores are negative or small."
    return Attribution(text="The cat sat on the", tokens=["The", " cat", " sat", " on"], offsets=[(0, 3), (4, 7), (8, 11), (12, 14)],
                       target={"text": " sat on the", "ids": [1, 2, 3], "pos": 2, "id": 1},
                       targets=[{"text": " sat", "id": 1, "pos": 2}, {"text": " on", "id": 2, "pos": 3}, {"text": " the", "id": 3, "pos": 4}],
                       scores=[[-0.1, -0.2, 0, 0], [0.2, 0.1, 0.6, 0], [0.1, 0.1, 0.2, 0.7]],
                       gate=[[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], curvature=[[1, 2, 0, 0], [3, 2, 1, 0], [4, 3, 2, 1]],
                       information=[[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]], model="hand-made", seconds=0.5)

def test_single_target_report_unchanged():
    # the exact text heta printed before generations got their own report
    assert report(one(), top=3, color=False) == (
        "hand-made: 5 context tokens -> target ' sat' (1.2s)\n\nThe[0.1] un[0.2] believ[0.3]able[0.4] cat[1] -> ' sat'\n\n"
        "rank  token                score      gate   curvature  information\n"
        "   1  ' cat'              1.0000    1.0000           1            2\n"
        "   2  'able'              0.4000    1.0000           2            1\n"
        "   3  ' believ'           0.3000    1.0000           3            0")
    assert report(one(), top=2, color=True) == (
        "hand-made: 5 context tokens -> target ' sat' (1.2s)\n\n\x1b[30;48;2;245;201;201mThe\x1b[0m\x1b[30;48;2;234;147;148m un\x1b[0m"
        "\x1b[97;48;2;224;93;94m believ\x1b[0m\x1b[97;48;2;214;39;40mable\x1b[0m\x1b[97;48;2;214;39;40m cat\x1b[0m\x1b[7m sat\x1b[0m\n\n"
        "rank  token                score      gate   curvature  information\n"
        "   1  ' cat'              1.0000    1.0000           1            2\n"
        "   2  'able'              0.4000    1.0000           2            1")

def test_generation_report_lists_every_target():
    out = report(generation(), top=3, color=False)
    lines = out.splitlines()
    assert lines[0] == "hand-made: 2 prompt tokens -> 3 generated tokens ' sat on the' (0.5s)"
    heat = [l for l in lines if " -> '" in l]
    assert heat == ["  0  The[-0.1] cat[-0.2] -> ' sat'",                         # each line: what the step saw, then its token
                    "  1  The[0.2] cat[0.1] sat[0.6] -> ' on'",
                    "  2  The[0.1] cat[0.1] sat[0.2] on[0.7] -> ' the'"]
    heads = [i for i, l in enumerate(lines) if l.startswith("target ")]
    assert [lines[i] for i in heads] == ["target 0: ' sat' (after 2 tokens)", "target 1: ' on' (after 3 tokens)",
                                         "target 2: ' the' (after 4 tokens)"]
    # each target's table ranks only the tokens it saw: step 0's unseen zeros do not outrank its negative scores
    t0 = lines[heads[0] + 2:heads[1] - 1]
    assert [l[6:22].strip() for l in t0] == ["'The'", "' cat'"]
    assert lines[heads[1] + 2].startswith("   1  ' sat'") and lines[heads[2] + 2].startswith("   1  ' on'")
    assert lines[heads[2] + 2] == "   1  ' on'               0.7000    1.0000           1            0"   # its components
    coloured = report(generation(), color=True)
    assert coloured.count("\x1b[7m") == 3                                          # three targets in reverse video

def test_report_labels_split_characters():
    "A character split into two byte tokens (' 中' and ''): the tables name its pieces by label, the heatmaps keep the texts."
    one_split = Attribution(text="Cam cut 中 a", tokens=["Cam", " cut", " 中", "", " a"],
                            offsets=[(0, 3), (3, 7), (7, 9), (8, 9), (9, 11)], target={"text": " slice", "ids": [1], "pos": 5, "id": 1},
                            scores=[0.1, 0.5, 0.05, 0.25, 0.1], model="hand-made")
    lines = report(one_split, top=3, color=False).splitlines()
    assert lines[2] == "Cam[0.1] cut[0.5] 中[0.05][0.25] a[0.1] -> ' slice'"      # token texts tile the text
    assert [l[6:22].strip() for l in lines[5:]] == ["' cut'", "'中(2/2)'", "'Cam'"]   # no nameless '' in the table
    gen_split = Attribution(text="Cam 中 a b", tokens=["Cam", " 中", "", " a"], offsets=[(0, 3), (3, 5), (4, 5), (5, 7)],
                            target={"text": " a b", "ids": [3, 4], "pos": 3, "id": 3},
                            targets=[{"text": " a", "id": 3, "pos": 3}, {"text": " b", "id": 4, "pos": 4}],
                            scores=[[0.1, 0.2, 0.7, 0], [0.1, 0.1, 0.2, 0.6]], model="hand-made")
    lines = report(gen_split, top=2, color=False).splitlines()
    assert [l for l in lines if " -> '" in l] == ["  0  Cam[0.1] 中[0.2][0.7] -> ' a'", "  1  Cam[0.1] 中[0.1][0.2] a[0.6] -> ' b'"]
    heads = [i for i, l in enumerate(lines) if l.startswith("target ")]
    assert lines[heads[0] + 2].startswith("   1  '中(2/2)'") and lines[heads[0] + 3].startswith("   2  ' 中(1/2)'")
    assert lines[heads[1] + 3].startswith("   2  '中(2/2)'")

def test_cli_generate_end_to_end(tmp_path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["attribute", "The cat sat on the", "--generate", "3", "--model", "tiny-gpt2", "--probes", "2", "--quiet",
                   "--no-color", "--top", "2", "--json", str(tmp_path / "g.json"), "--html", str(tmp_path / "g.html")])
    assert rc == 0
    a = Attribution.load(tmp_path / "g.json")
    text = out.getvalue()
    assert len(a.targets) == 3
    for j, t in enumerate(a.targets):
        assert f"target {j}: {t['text']!r} (after {t['pos']} tokens)" in text
        assert re.search(rf"^  {j}  .* -> {re.escape(repr(t['text']))}$", text, re.M)
    page = (tmp_path / "g.html").read_text(encoding="utf-8")
    assert page.count('class="heta-row"') == 3 and "3 generated tokens" in page
