"""docs/benchmarks.md and docs/bottlenecks.md against the results files they cite
(tests/bench/render_docs.py), and the renderer's own arithmetic and shapes."""

import copy
import json

import pytest

from . import render_docs as R


def test_committed_docs_match_the_results(capsys):
    rc = R.main(["--check"])
    out = capsys.readouterr()
    assert rc == 0, ("docs differ from the results; run `.venv/bin/python -m "
                     "tests.bench.render_docs`\n" + out.out + out.err)


def test_every_block_is_placed_in_a_doc():
    names = set()
    for doc in R.DOCS:
        names.update(R.block_names((R.ROOT / doc).read_text()))
    assert names == set(R.BLOCKS)
    assert set(R.BLOCK_KEYS) == set(R.BLOCKS)


# --------------------------------------------------------------------------- stat()


def test_stat_of_an_odd_number_of_values():
    assert R.stat([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0, 3)


def test_stat_of_an_even_number_takes_the_mean_of_the_middle_two():
    assert R.stat([4, 1, 3, 2]) == (2.5, 1, 4, 4)


def test_stat_of_one_value():
    assert R.stat([7.5]) == (7.5, 7.5, 7.5, 1)


def test_stat_ignores_missing_values_and_of_none_is_empty():
    assert R.stat([None, 2.0, None]) == (2.0, 2.0, 2.0, 1)
    assert R.stat([]) == (None, None, None, 0)
    assert R.stat([None]) == (None, None, None, 0)


def test_fmt_stat_one_run_several_runs_none():
    f = R.num(1)
    assert R.fmt_stat([12.34], f) == "12.3"
    assert R.fmt_stat([10.0, 12.0, 11.0], f) == "11.0 (10.0–12.0), n=3"
    assert R.fmt_stat([], f) == R.MISSING
    assert R.fmt_stat([0.9681], R.pct()) == "96.8%"


# --------------------------------------------------------------------------- shapes


def _summary(makespan, **extra):
    d = {"makespan_s": makespan, "makespan_unscaled_s": makespan / 0.075, "tasks": 100,
         "_ran_at": "2026-12-02 10:00:00", "_binary": {"git_head": "abc1234"}}
    d.update(extra)
    return d


def test_runs_of_accepts_one_summary_or_several():
    one = _summary(10.0)
    assert R.runs_of(one) == [one]
    many = {"runs": [_summary(9.0), _summary(11.0)], "commit": "def5678"}
    assert R.runs_of(many) == many["runs"]
    assert R.runs_of(None) == []


def test_single_run_renders_the_value_multi_run_the_median_and_range():
    single = R.Results({"runs": {"b": _summary(55.26)}})
    assert single.fig("b", "makespan_s") == "55.3"
    multi = R.Results({"runs": {"b": {"runs": [_summary(50.0), _summary(60.0), _summary(55.0)],
                                      "commit": "def5678", "date": "2026-12-02"}}})
    assert multi.fig("b", "makespan_s") == "55.0 (50.0–60.0), n=3"
    assert multi.fig("b", "no.such.key") == R.MISSING


def test_provenance_of_a_multi_run_scenario_names_its_commit_date_and_count():
    res = R.Results({"runs": {"cap_b": {"runs": [{"makespan_s": 1.0}] * 3, "commit": "def5678",
                                        "date": "2026-12-02 11:00"}}})
    src = res.source(["cap_b"], "cmd")
    assert "cap_b ×3" in src and "def5678" in src and "2026-12-02 11:00" in src and "`cmd`" in src


def test_issue6_table_from_multi_run_scenarios():
    results = json.loads((R.ROOT / "docs/bench/results.json").read_text())
    multi = copy.deepcopy(results)
    b = multi["runs"]["b"]
    b2 = copy.deepcopy(b)
    b2["makespan_s"] = b["makespan_s"] + 2
    multi["runs"]["b"] = {"runs": [b, b2, copy.deepcopy(b)], "commit": "x", "date": "y"}
    text = R.BLOCKS["issue6-runs"](R.Results(multi))
    row = next(line for line in text.splitlines() if line.startswith("| (b) llmlb 4 × 50"))
    assert f"{b['makespan_s']:.1f} ({b['makespan_s']:.1f}–{b['makespan_s'] + 2:.1f}), n=3" in row


# --------------------------------------------------------------------------- placeholders

FINITE = ["finite-like-for-like", "finite-equal-total", "finite-faults", "finite-overload"]


@pytest.mark.parametrize("name", FINITE)
def test_finite_capacity_blocks_say_not_measured_yet_without_their_scenarios(name):
    text = R.BLOCKS[name](R.Results({"runs": {}}))
    assert text.startswith("*Not measured yet*")
    assert "|" not in text


def _finite_run(makespan, goodput, **extra):
    d = {"makespan_s": makespan, "solved": 1000, "failed": 0, "calls": 1010, "resent": 0.0099,
         "http_429": 3, "goodput_per_s": goodput}
    d.update(extra)
    return d


def test_like_for_like_renders_a_table_from_three_runs_each():
    runs = {
        "cap_a": {"runs": [_finite_run(m, 1000 / m, lost_batches=2, ceiling=0.3)
                           for m in (100.0, 110.0, 90.0)], "commit": "aaa1111",
                  "date": "2026-12-02 10:00"},
        "cap_b": {"runs": [_finite_run(m, 1000 / m, ceiling=0.9) for m in (40.0, 42.0, 38.0)],
                  "commit": "aaa1111", "date": "2026-12-02 10:30"},
    }
    text = R.BLOCKS["finite-like-for-like"](R.Results({"runs": runs}))
    lines = text.splitlines()
    a = next(line for line in lines if "`cap_a`" in line)
    b = next(line for line in lines if "`cap_b`" in line)
    assert "100.0 (90.0–110.0), n=3" in a
    assert "30.0% (30.0%–30.0%), n=3" in a          # ceiling
    assert "2 (2–2), n=3" in a                      # lost batches
    assert "40.0 (38.0–42.0), n=3" in b
    assert R.MISSING in b                           # llmlb has no lost_batches: tolerated
    assert "**2.50×**" in text                      # makespan ratio of medians, 100 / 40
    assert "aaa1111" in text and "cap_a ×3" in text


def test_overload_renders_present_scenarios_and_marks_the_missing_ones():
    runs = {"over4_on": {"runs": [_finite_run(50.0, 20.0, capacity_per_s=25.0)],
                         "commit": "c", "date": "d"}}
    text = R.BLOCKS["finite-overload"](R.Results({"runs": runs}))
    on = next(line for line in text.splitlines() if "`over4_on`" in line)
    off = next(line for line in text.splitlines() if "`over8_off`" in line)
    assert "| 50.0 |" in on and "| 25.0 |" in on
    assert "not measured yet" in off


# --------------------------------------------------------------------------- rewriting


def test_render_text_replaces_block_bodies_and_keeps_prose():
    blocks = {"t": lambda res: "| x |\n|---|", "i": lambda res: "42 things"}
    doc = ("prose\n" + R.start_marker("t") + "\nstale\n" + R.end_marker("t") + "\nmore "
           + R.start_marker("i") + "old" + R.end_marker("i") + ".\n")
    out = R.render_text(doc, R.Results({"runs": {}}), blocks)
    assert out == ("prose\n" + R.start_marker("t") + "\n| x |\n|---|\n" + R.end_marker("t")
                   + "\nmore " + R.start_marker("i") + "42 things" + R.end_marker("i") + ".\n")
    assert R.render_text(out, R.Results({"runs": {}}), blocks) == out


def test_render_text_rejects_unknown_and_unterminated_blocks():
    with pytest.raises(R.DocError):
        R.render_text(R.start_marker("nope") + "\n" + R.end_marker("nope"),
                      R.Results({"runs": {}}), {})
    with pytest.raises(R.DocError):
        R.render_text(R.start_marker("t") + "\n", R.Results({"runs": {}}),
                      {"t": lambda res: ""})


def test_check_mode_reports_a_stale_block_with_a_diff(tmp_path, capsys):
    for rel in ("docs/bench/results.json",):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((R.ROOT / rel).read_text())
    for d in (R.AB_DIR, R.BOUNDARY_DIR):
        (tmp_path / d).mkdir(parents=True)
        for p in (R.ROOT / d).glob("*.json"):
            (tmp_path / d / p.name).write_text(p.read_text())
    for doc in R.DOCS:
        (tmp_path / doc).write_text((R.ROOT / doc).read_text())
    bench = tmp_path / "docs/benchmarks.md"
    text = bench.read_text()
    marker = R.start_marker("issue6-runs")
    i = text.index(marker) + len(marker)
    bench.write_text(text[:i] + "\n| hand-edited | 1 |" + text[i:])
    assert R.main(["--check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "-| hand-edited | 1 |" in out and "docs/benchmarks.md (committed)" in out
    assert R.main(["--root", str(tmp_path)]) == 0
    assert R.main(["--check", "--root", str(tmp_path)]) == 0


def test_overload_verdicts_hold_only_when_every_run_meets_them():
    good = {"goodput_of_capacity": 0.95, "failed": 0, "resent": 0.03}
    res = R.Results({"runs": {
        "over4_on": {"runs": [good, good, dict(good, resent=0.06)]},
        "over8_on": {"runs": [good] * 3},
        "over4_off": {"runs": [{"goodput_of_capacity": 0.5, "failed": 0, "resent": 0.4},
                               {"goodput_of_capacity": 0.95, "failed": 3, "resent": 0.2}]},
        "over8_off": {"runs": [{"goodput_of_capacity": 0.8, "failed": 0, "resent": 0.2}]}}})
    assert R.overload_verdict(res, "over4_on", True) is False
    assert R.overload_verdict(res, "over8_on", True) is True
    assert R.overload_verdict(res, "over4_off", False) is True
    assert R.overload_verdict(res, "over8_off", False) is False
    assert R.overload_verdict(res, "missing", True) is None


def test_summary_finite_without_its_scenarios_says_not_measured_yet():
    text = R.BLOCKS["summary-finite"](R.Results({"runs": {}}))
    assert text.startswith("*Not measured yet*")
