"""The papers' claims: the evaluation table, its path through runner, CLI and report, and
paper C's Fig 1 claims on synthetic tables where they must hold and where they must fail."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import overparam as op
from overparam.cli import app
from overparam.experiments import REGISTRY, Experiment, register
from overparam.experiments import trajectory_claims as tc
from overparam.experiments.claims import (
    CLAIM_COLUMNS,
    Claim,
    Frames,
    cannot,
    count_claims,
    evaluate_claims,
    judged,
)
from overparam.report import write_report


def _frames(runs, steps, quick=False) -> Frames:
    return Frames(pd.DataFrame(runs), pd.DataFrame(steps), pd.DataFrame(), quick)


def test_the_table_has_one_row_per_claim_and_records_errors():
    def boom(f):
        raise KeyError("loss_twin")

    claims = (Claim("x.ok", "it holds", "§1", lambda f: judged(True, "3 of 3", 3)),
              Claim("x.no", "it fails", "§2", lambda f: judged(False, "1 of 3", 1)),
              Claim("x.cannot", "too small", "§3", lambda f: cannot("needs width 2000", "0.3")),
              Claim("x.bug", "raises", "§4", boom))
    table = evaluate_claims(claims, _frames({}, {}))
    assert list(table.columns) == list(CLAIM_COLUMNS)
    assert list(table["verdict"]) == ["holds", "fails", "cannot", "error"]
    assert table.loc[0, "value"] == 3 and math.isnan(table.loc[2, "value"])
    assert table.loc[2, "reason"] == "needs width 2000" and table.loc[2, "measured"] == "0.3"
    assert "KeyError" in table.loc[3, "reason"] and "loss_twin" in table.loc[3, "reason"]
    assert count_claims(table) == {"holds": 1, "fails": 1, "cannot": 1, "error": 1}
    assert count_claims(evaluate_claims((), _frames({}, {}))) == dict.fromkeys(
        ("holds", "fails", "cannot", "error"), 0)


@pytest.fixture
def claimed(tiny):
    """A registered experiment (the tiny spec) with one claim per verdict, removed after."""
    spec = copy.deepcopy(tiny)
    spec.pop("id")
    last = lambda f: float(f.steps.groupby("run_id")["loss"].last().max())  # noqa: E731
    exp = register(Experiment(
        id="test/claimed", title="claims end to end", paper="T", paper_title="test",
        figure="Fig 0", spec=spec,
        claims=(Claim("T.decreases", "GD decreases the loss", "§1",
                      lambda f: judged(last(f) < float(f.steps["loss"].iloc[0]),
                                       f"final loss {last(f):.3g}", last(f))),
                Claim("T.zero", "the loss reaches exactly 0", "§2",
                      lambda f: judged(last(f) == 0.0, f"final loss {last(f):.3g}")),
                Claim("T.big", "at width 10^6", "§3", lambda f: cannot("the run's width is 12")))))
    yield exp
    REGISTRY.pop(exp.id)


def test_claims_reach_the_table_the_manifest_the_terminal_and_the_report(claimed, tmp_path):
    out = tmp_path / "o"
    res = CliRunner().invoke(app, ["run", claimed.id, "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    for text in ("the paper's claims", "T.decreases", "holds", "fails",
                 "the run's width is 12"):
        assert text in res.output
    result = op.load(out)
    assert list(result.claims["verdict"]) == ["holds", "fails", "cannot"]
    assert result.manifest["claims"] == {"holds": 1, "fails": 1, "cannot": 1, "error": 0}
    shown = CliRunner().invoke(app, ["show", str(out)])
    assert shown.exit_code == 0 and "T.big" in shown.output and "width is 12" in shown.output
    html = write_report(out).read_text()
    assert "T.zero" in html and "the run&#x27;s width is 12" in html and "claims.parquet" in html


def test_a_users_spec_has_no_claims(tiny, tmp_path):
    res = op.run(tiny, out=tmp_path, progress=False)
    assert res.claims.empty and list(res.claims.columns) == list(CLAIM_COLUMNS)


# ------------------------------------------------------------------ paper C, Fig 1
def _fig1(gaps: dict[tuple[str, int], float], rise_at_128: bool = True,
          diverge: tuple[str, int] | None = None, depth: int = 4, scale: float = 0.5) -> Frames:
    """Runs of Fig 1 (two seeds per init and width) whose network loss sits ``gap`` decades
    above the twin's 10^(3 − t/10), with a bump at t = 3 at width 128 where ``rise_at_128``."""
    runs, steps = [], []
    for (init, width), gap in gaps.items():
        for seed in (0, 1):
            rid = f"{init}-{width}-{seed}"
            died = diverge == (init, width)
            n = 8 if died else 31
            runs.append({"run_id": rid, "init.kind": init, "n_min": width, "N": depth,
                         "schedule.scale": scale, "status": "diverged" if died else "ok",
                         "steps_done": n - 1, "e0": 1.0})
            t = np.arange(n)
            twin = 10.0 ** (3 - t / 10)
            net = twin * 10.0 ** gap
            if rise_at_128 and width == 128:
                net[3] = net[2] * 1.5
            if died:
                net[-1] = 1e30
            steps += [{"run_id": rid, "step": int(k), "loss": net[k],
                       "loss_twin": twin[k], "deviation_X": 0.0} for k in t]
    return _frames(runs, steps)


FULL = {("gaussian", 128): 1.5, ("gaussian", 200): 0.6, ("gaussian", 2000): 0.02,
        ("orthogonal", 128): 0.8, ("orthogonal", 200): 0.4, ("orthogonal", 5000): 0.01}


def test_fig1_claims_hold_on_a_figure_like_the_papers():
    out = evaluate_claims(tc.FIG1_CLAIMS, _fig1(FULL)).set_index("claim")
    assert set(out["verdict"]) == {"holds"}, out[["measured", "reason"]].to_string()
    assert out.loc["C.fig1.nonmonotone", "value"] == 1.0  # 4 of 4 runs rise
    assert out.loc["C.fig1.close", "value"] == pytest.approx(0.02)


def test_fig1_claims_fail_where_the_figure_disagrees():
    wrong = {**FULL, ("gaussian", 200): 2.0, ("gaussian", 2000): 0.3}
    out = evaluate_claims(tc.FIG1_CLAIMS, _fig1(wrong, rise_at_128=False,
                                                diverge=("orthogonal", 200)))
    verdict = out.set_index("claim")["verdict"]
    assert verdict["C.fig1.nonmonotone"] == "fails"  # no run rises
    assert verdict["C.fig1.bounded"] == "fails"  # two diverged at iteration 7
    assert verdict["C.fig1.closer"] == "fails"  # 200 is farther than 128
    assert verdict["C.fig1.close"] == "fails"  # 0.3 decades at 2000
    assert verdict["C.fig1.init"] == "fails"  # 0.3 against 0.01 decades at t = 25


def test_fig1_claims_say_why_not_at_quick_size_and_on_the_printed_reading():
    quick = {k: v for k, v in FULL.items() if k[1] < 2000}
    quick.update({("gaussian", 600): 0.1, ("orthogonal", 600): 0.2})
    out = evaluate_claims(tc.FIG1_CLAIMS, _fig1(quick)).set_index("claim")
    assert out.loc["C.fig1.close", "verdict"] == "cannot"
    assert "2000" in out.loc["C.fig1.close", "reason"] and "600" in out.loc["C.fig1.close",
                                                                             "measured"]
    assert out.loc["C.fig1.closer", "verdict"] == "holds"
    printed = evaluate_claims(tc.FIG1_CLAIMS, _fig1(FULL, depth=3, scale=1.0))
    assert set(printed["verdict"]) == {"cannot"}
    assert printed["reason"].str.contains("authors").all()


def test_log_gap_is_the_sup_of_the_log_difference_and_inf_for_an_early_divergence():
    f = _fig1({("gaussian", 128): 0.5}, rise_at_128=False)
    gaps = tc.log_gap(f.runs, f.steps)
    assert gaps.to_numpy() == pytest.approx([0.5, 0.5])
    f = _fig1({("gaussian", 128): 0.5}, diverge=("gaussian", 128))
    assert np.isinf(tc.log_gap(f.runs, f.steps)).all()
