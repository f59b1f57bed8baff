"""`overparam.load`: a results folder reopened without rerunning (and without JAX), its
frame, summary and verdicts, and `overparam show DIR`."""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import overparam as op
from overparam.cli import app
from overparam.report import check_summary
from overparam.results import Result, load

cli = CliRunner()

HEAVY = ("jax", "jaxlib", "diffrax", "dask", "distributed", "matplotlib", "scipy")


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An --out folder holding one tiny experiment: 2 step sizes x 2 seeds, the large step
    diverging (as in test_run)."""
    from conftest import TINY

    spec = copy.deepcopy(TINY)
    spec["schedule"] = {"kind": "constant", "eta": 0.01}
    spec["sweep"] = {"schedule.eta": [0.01, 5.0]}
    folder = tmp_path_factory.mktemp("results")
    op.run(spec, out=folder)
    return folder


# --------------------------------------------------------------------------- a real run


def test_load_reopens_an_experiment_or_its_out_folder(out):
    exp = out / "tiny"
    a, b = op.load(out), op.load(exp)
    assert isinstance(a, Result) and a.path == b.path == exp and a.experiment_id == "tiny"
    assert "load" in op.__all__
    from overparam.runner import Result as RunnerResult

    assert RunnerResult is Result  # runner returns the same class
    pd.testing.assert_frame_equal(a.runs, pd.read_parquet(exp / "runs.parquet"))
    pd.testing.assert_frame_equal(a.steps, pd.read_parquet(exp / "steps.parquet"))
    pd.testing.assert_frame_equal(a.checks, pd.read_parquet(exp / "checks.parquet"))
    assert a.manifest["id"] == "tiny"


def test_frame_is_the_steps_with_their_runs_setting(out):
    res = load(out)
    runs, steps, frame = res.runs, res.steps, res.frame()
    assert len(frame) == len(steps)
    pd.testing.assert_frame_equal(frame[list(steps.columns)], steps)  # same rows, same order
    for col in ("schedule.eta", "schedule.kind", "problem.width", "steps", "seed", "status",
                "note"):
        assert col in frame.columns, col
    for col in ("wall_s", "theory_s", "run_s", "compile_s", "K", "mu", "final_loss",
                "experiment"):
        assert col not in frame.columns, col
    by_run = runs.set_index("run_id")
    np.testing.assert_array_equal(frame["status"], by_run.loc[frame["run_id"], "status"])
    np.testing.assert_array_equal(frame["schedule.eta"],
                                  by_run.loc[frame["run_id"], "schedule.eta"])


def test_summary_counts_each_setting(out):
    res = load(out)
    runs, summary = res.runs, res.summary()
    assert list(summary.columns) == ["schedule.eta", "n_runs", "n_ok", "n_diverged", "n_failed",
                                     "n_stalled", "final_loss", "n_in_median"]
    rows = summary.set_index("schedule.eta")
    assert rows["n_runs"].to_dict() == {0.01: 2, 5.0: 2}
    assert rows.loc[0.01, "n_ok"] == 2 and rows.loc[5.0, "n_diverged"] == 2
    for eta, row in rows.iterrows():
        st = runs.loc[runs["schedule.eta"] == eta, "status"]
        for s in ("ok", "diverged", "failed", "stalled"):
            assert row[f"n_{s}"] == (st == s).sum()
    ok = runs[(runs["schedule.eta"] == 0.01) & (runs["status"] == "ok")]
    assert rows.loc[0.01, "final_loss"] == pytest.approx(ok["final_loss"].median())
    assert rows.loc[0.01, "n_in_median"] == 2
    assert math.isnan(rows.loc[5.0, "final_loss"]) and rows.loc[5.0, "n_in_median"] == 0


def test_verdicts_are_the_check_summary(out):
    res = load(out)
    pd.testing.assert_frame_equal(res.verdicts(), check_summary(res.checks))


def test_loading_and_show_import_no_jax(out):
    code = textwrap.dedent(f"""
        import json, sys
        import overparam
        res = overparam.load({str(out)!r})
        res.frame(), res.summary(), res.verdicts()
        sys.argv = ["overparam", "show", {str(out)!r}]
        from overparam.cli import main
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        else:
            code = 0
        print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"code": 0, "heavy": []}


def test_show_prints_counts_bad_runs_and_verdicts(out):
    res = cli.invoke(app, ["show", str(out)])
    assert res.exit_code == 0, res.output
    assert "tiny" in res.output and "4 runs: ok 2, diverged 2" in res.output
    assert "runs not ok (2)" in res.output and "schedule.eta=5.0" in res.output
    for note in load(out).runs.query("status != 'ok'")["note"]:
        assert note in res.output
    for check in load(out).verdicts()["check"]:
        assert check in res.output
    assert "verdict: " in res.output  # the headline, as after a run
    assert "Traceback" not in res.output


def test_show_sets_aside_a_printed_statement_known_wrong(out, tmp_path):
    """A check of a printed formula with an erratum does not decide the headline; show says
    so, as the run's own output does."""
    folder = tmp_path / "tiny"
    shutil.copytree(out / "tiny", folder)
    checks = pd.read_parquet(folder / "checks.parquet")
    wrong = checks.iloc[:1].assign(check="X.printed", status="violated", holds=False,
                                   erratum="C3", corrected_by=checks["check"].iloc[0])
    pd.concat([checks, wrong]).to_parquet(folder / "checks.parquet", index=False)
    res = cli.invoke(app, ["show", str(folder)])
    assert res.exit_code == 0, res.output
    assert "X.printed as printed: violated (erratum C3" in res.output
    assert "verdict: violated" not in res.output


# --------------------------------------------------------------------------- errors



def test_the_report_links_each_cited_erratum_to_its_text(out, tmp_path):
    """'as printed: violated (erratum C3)' links to C3's entry, quoted once at the end of the
    page; an unknown id is left as text; an uncited erratum is not quoted."""
    from overparam.report import errata, write_report

    folder = tmp_path / "r" / "tiny"
    shutil.copytree(out / "tiny", folder)
    checks = pd.read_parquet(folder / "checks.parquet")
    wrong = checks.iloc[:1].assign(check="X.printed", status="violated", holds=False,
                                   erratum="C3", corrected_by=checks["check"].iloc[0])
    pd.concat([checks, wrong]).to_parquet(folder / "checks.parquet", index=False)
    page = write_report(tmp_path / "r").read_text()
    assert 'erratum <a href="#erratum-C3">C3</a>' in page
    assert page.count('<article id="erratum-C3"') == 1 and 'id="erratum-A1"' not in page
    assert "the n_N-th singular value" in page  # C3's title, quoted
    cited: set[str] = set()
    assert errata.link_citations("erratum Z9 and errata A10", cited) == (
        'erratum Z9 and errata <a href="#erratum-A10">A10</a>')
    assert cited == {"A10"}

def test_load_names_the_path_that_is_not_a_results_folder(tmp_path, out):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="file.txt"):
        load(tmp_path / "file.txt")
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=f"{empty}.*not a results folder"):
        load(empty)
    two = tmp_path / "two"
    for name in ("a", "b"):
        shutil.copytree(out / "tiny", two / name)
    with pytest.raises(ValueError, match=r"2 experiments \(a, b\)"):
        load(two)
    (two / "b" / "steps.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="steps.parquet missing"):
        load(two / "b")
    (two / "a" / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json cannot be read"):
        load(two / "a")


def test_show_exits_2_with_one_line_for_a_folder_without_results(tmp_path):
    res = cli.invoke(app, ["show", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output.strip().startswith("error:") and str(tmp_path) in res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    res = cli.invoke(app, ["show", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.output


# --------------------------------------------------------------------------- by hand


def _write_folder(root: Path, runs: pd.DataFrame, manifest: dict,
                  checks: pd.DataFrame | None = None) -> Path:
    """A results folder written with pandas: two steps per run."""
    root.mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps(manifest))
    runs.to_parquet(root / "runs.parquet", index=False)
    steps = pd.DataFrame({"run_id": np.repeat(runs["run_id"].to_numpy(), 2),
                          "step": np.tile([0, 1], len(runs)),
                          "t": np.tile([0.0, 0.1], len(runs)),
                          "loss": np.linspace(1.0, 0.0, 2 * len(runs))})
    steps.to_parquet(root / "steps.parquet", index=False)
    if checks is None:
        checks = pd.DataFrame({"run_id": runs["run_id"], "check": "X.eq1", "paper": "X",
                               "equation": "eq 1", "status": "holds", "holds": True,
                               "median_ratio": 0.5, "max_ratio": 0.9, "note": ""})
    checks.to_parquet(root / "checks.parquet", index=False)
    return root


#: (problem.width, status, final_loss) per run, with the summary worked out by hand below.
HAND = [
    (10, "ok", 1.0), (10, "ok", 4.0), (10, "diverged", 1e30), (10, "stalled", 0.25),
    (10, "diverged", 2e30),
    (20, "ok", 3.0), (20, "ok", float("nan")), (20, "ok", 5.0), (20, "ok", 7.0),
    (20, "failed", float("nan")),
    (30, "stalled", 1.0), (30, "diverged", 1e30),
]


def _hand_runs() -> pd.DataFrame:
    n = len(HAND)
    return pd.DataFrame({
        "run_id": [f"r{i:02d}" for i in range(n)], "experiment": "hand",
        "problem.kind": "two_layer_linear", "problem.width": [w for w, _, _ in HAND],
        "schedule.kind": "constant", "steps": 1, "seed": list(range(n)),
        "status": [s for _, s, _ in HAND],
        "note": ["" if s == "ok" else f"{s} here" for _, s, _ in HAND],
        "steps_done": 1, "wall_s": np.arange(n) * 0.1, "theory_s": 0.01, "run_s": 0.02,
        "compile_s": 0.03, "final_loss": [x for _, _, x in HAND],
        "K": np.arange(n) + 1.0,  # a theory constant that varies: not a setting
    })


def test_summary_by_hand(tmp_path):
    manifest = {"id": "hand", "title": "by hand",
                "spec": {"id": "hand", "problem": {"kind": "two_layer_linear"}, "steps": 1,
                         "seeds": 5, "seed": 0, "sweep": {"problem.width": [10, 20, 30]}}}
    res = load(_write_folder(tmp_path / "hand", _hand_runs(), manifest))
    assert res.experiment_id == "hand"
    assert res.setting_columns() == ["problem.kind", "problem.width", "schedule.kind", "steps"]
    s = res.summary()
    assert list(s.columns) == ["problem.width", "n_runs", "n_ok", "n_diverged", "n_failed",
                               "n_stalled", "final_loss", "n_in_median"]
    assert s["problem.width"].tolist() == [10, 20, 30]
    counts = s[["n_runs", "n_ok", "n_diverged", "n_failed", "n_stalled", "n_in_median"]]
    assert counts.to_numpy().tolist() == [[5, 2, 2, 0, 1, 2],   # ok losses 1, 4
                                          [5, 4, 0, 1, 0, 3],   # ok losses 3, nan, 5, 7
                                          [2, 0, 1, 0, 1, 0]]   # no ok run
    assert s["final_loss"].iloc[0] == 2.5  # not 4, the median over all five runs
    assert s["final_loss"].iloc[1] == 5.0
    assert math.isnan(s["final_loss"].iloc[2])
    frame = res.frame()
    assert len(frame) == 2 * len(HAND)
    assert {"problem.width", "steps", "seed", "status", "note"} <= set(frame.columns)
    assert not {"K", "wall_s", "final_loss", "steps_done"} & set(frame.columns)


def test_summary_with_nothing_varying_is_one_row(tmp_path):
    runs = _hand_runs().iloc[:5]  # width 10 only
    res = load(_write_folder(tmp_path / "one", runs, {"id": "one"}))  # no spec: dotted columns
    assert res.setting_columns() == ["problem.kind", "problem.width", "schedule.kind"]
    s = res.summary()
    assert len(s) == 1 and list(s.columns)[:2] == ["n_runs", "n_ok"]
    assert s.iloc[0][["n_runs", "n_ok", "n_diverged", "n_stalled"]].tolist() == [5, 2, 2, 1]
    assert s["final_loss"].iloc[0] == 2.5
    no_loss = load(_write_folder(tmp_path / "noloss", runs.drop(columns="final_loss"),
                                 {"id": "noloss"}))
    assert "final_loss" not in no_loss.summary().columns


def test_show_escapes_markup_in_everything_it_prints(tmp_path):
    runs = _hand_runs()
    runs.loc[2, "note"] = "[red]boom[/red] [/]"
    runs["problem.kind"] = ["[b]k[/b]"] * 6 + ["plain"] * 6
    checks = pd.DataFrame({
        "run_id": ["r00", "r01", "r00", "r01"], "check": ["[/c1]", "[/c1]", "c2", "c2"],
        "paper": "X", "equation": ["[i]eq[/i]"] * 4,
        "status": ["holds", "violated", "not_applicable", "not_applicable"],
        "holds": [True, False, False, False], "median_ratio": [0.5, 2.0, np.nan, np.nan],
        "max_ratio": [0.5, 2.0, np.nan, np.nan],
        "note": ["", "[/v] broke", "[link=http://x]why[/link]", ""],
    })
    folder = _write_folder(tmp_path / "x", runs,
                           {"id": "[/foo]", "title": "[bold]T[/bold]", "paper": "[/p]"}, checks)
    res = cli.invoke(app, ["show", str(folder)])
    assert res.exit_code == 0, res.output
    for literal in ("[/foo]", "[bold]T[/bold]", "[/p]", "[red]boom[/red] [/]", "[/c1]",
                    "[i]eq[/i]", "[/v] broke", "[link=http://x]why[/link]", "[b]k[/b]"):
        assert literal in res.output, literal
    assert "12 runs: ok 6, diverged 3, failed 1, stalled 2" in res.output
    assert "runs not ok (6)" in res.output
    assert "violated" in res.output and "n/a" in res.output


def test_show_lists_twenty_bad_runs_then_counts_the_rest(tmp_path):
    n = 23
    runs = pd.DataFrame({"run_id": [f"r{i:02d}" for i in range(n)], "experiment": "many",
                         "problem.width": range(n), "seed": 0, "status": "diverged",
                         "note": [f"diverged at step {i}" for i in range(n)],
                         "final_loss": 1e30})
    res = cli.invoke(app, ["show", str(_write_folder(tmp_path / "many", runs, {"id": "many"}))])
    assert res.exit_code == 0, res.output
    assert "diverged at step 19 " in res.output and "diverged at step 20 " not in res.output
    assert "... and 3 more" in res.output
