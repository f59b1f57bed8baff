"""What a user sees can be trusted: statuses with reasons (stalled included), no invented
rows, exit codes, verdicts that set aside printed statements known wrong, and a results
folder that never loses runs silently."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import overparam as op
from overparam.cli import EXIT_RUNS, app
from overparam.errors import SpecError
from overparam.problems.protocol import STALL_FRACTION, STALL_STEP_RATIO, stall_reason
from overparam.report import check_summary, headline

cli = CliRunner()

#: η_max of eq 102 far below 1/K_t (errata A10): the loss barely moves.
STALLING = {"kind": "synthetic", "n": 6, "m": 4, "samples": 12, "x": "gaussian",
            "target": "gaussian", "target_std": 10.0}


def _yaml(tmp_path: Path, spec: dict, name: str) -> Path:
    path = tmp_path / f"{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.yaml"
    path.write_text(yaml.safe_dump({**spec, "id": name}))
    return path


def _invoke(*args: str):
    res = cli.invoke(app, [*args, "--no-progress"])
    return res, res.output


# ------------------------------------------------------------------ statuses
def test_stall_rule_is_the_documented_one():
    gap = np.array([1.0, 1.0 - STALL_FRACTION / 2])
    assert "stalled" in stall_reason(gap, [STALL_STEP_RATIO / 10] * 2, "eta*K_t")
    assert stall_reason(gap, [STALL_STEP_RATIO * 10] * 2, "eta*K_t") == ""  # a real step
    assert stall_reason(np.array([1.0, 0.5]), [1e-9] * 2, "eta*K_t") == ""  # it moved
    assert stall_reason(np.array([0.0, 0.0]), [1e-9] * 2, "eta*K_t") == ""  # at the minimum


def test_a_degenerate_step_is_stalled_its_checks_vacuous_and_the_command_exits_3(
        tmp_path, tiny):
    tiny["problem"]["data"] = STALLING
    tiny["problem"]["width"] = 16
    tiny["schedule"] = {"kind": "constant"}  # eta_max
    res, out = _invoke("run-spec", str(_yaml(tmp_path, tiny, "stall")), "--out",
                       str(tmp_path / "o"))
    assert res.exit_code == EXIT_RUNS, out
    runs = pd.read_parquet(tmp_path / "o" / "stall" / "runs.parquet")
    assert set(runs["status"]) == {"stalled"}
    assert runs["note"].str.contains("eta\\*K_t stayed").all()
    assert "2 stalled" in out and "first, in stall: stalled" in out
    checks = pd.read_parquet(tmp_path / "o" / "stall" / "checks.parquet")
    assert "holds" not in set(checks["status"]) and "vacuous" in set(checks["status"])
    assert "verdict: vacuous" in out


def test_a_diverged_run_ends_at_its_last_computed_iterate(tmp_path, tiny):
    tiny["schedule"] = {"kind": "constant", "eta": 5.0}
    res = op.run(tiny, out=tmp_path)
    assert set(res.runs["status"]) == {"diverged"}
    for run_id, g in res.steps.groupby("run_id"):
        last, before = g.iloc[-1], g.iloc[-2]
        rec = res.runs.set_index("run_id").loc[run_id]
        assert int(last["step"]) == rec["steps_done"]
        assert f"diverged at step {int(last['step'])}" == rec["note"]
        # the failing iterate itself: its loss is huge or not finite, not a copy of the row
        # before it under the next step number
        assert last["loss"] != before["loss"] and last["t"] != before["t"]
        assert not np.isfinite(last["loss"]) or last["loss"] > 1e3 * g["loss"].iloc[0]


def test_exit_codes_failed_diverged_strict(tmp_path, tiny):
    narrow = copy.deepcopy(tiny)
    narrow["problem"]["width"] = 1  # below min(n, m): eta_max does not exist
    narrow["schedule"] = {"kind": "constant"}
    res, out = _invoke("run-spec", str(_yaml(tmp_path, narrow, "narrow")), "--out",
                       str(tmp_path / "o"))
    assert res.exit_code == EXIT_RUNS and "failed" in out and "eta_max is undefined" in out
    tiny["schedule"] = {"kind": "constant", "eta": 5.0}
    spec = str(_yaml(tmp_path, tiny, "diverging"))
    res, out = _invoke("run-spec", spec, "--out", str(tmp_path / "o"))
    assert res.exit_code == 0, out  # divergence is a documented outcome
    res, out = _invoke("run-spec", spec, "--out", str(tmp_path / "o"), "--strict")
    assert res.exit_code == EXIT_RUNS and "2 diverged" in out


# ------------------------------------------------------------------ verdicts
def _rows(check, statuses, erratum="", corrected_by="", note=""):
    return [{"run_id": f"r{i}", "check": check, "equation": "eq", "status": s,
             "holds": s == "holds", "median_ratio": 0.5, "max_ratio": 0.9, "note": note,
             "erratum": erratum, "corrected_by": corrected_by} for i, s in enumerate(statuses)]


def test_the_headline_sets_aside_a_printed_statement_known_wrong():
    checks = pd.DataFrame(
        _rows("C.sec45.ineq", ["violated", "holds"], "C3", "C.sec45.ineq_nN", "too small")
        + _rows("C.sec45.ineq_nN", ["holds", "holds"])
        + _rows("C.thm1.rate", ["not_applicable", "not_applicable"], note="width < n0"))
    summary = check_summary(checks).set_index("check")
    assert summary.loc["C.sec45.ineq", "verdict"] == "violated"
    assert summary.loc["C.thm1.rate", "note"] == "width < n0"  # the n/a reason is kept
    verdict, printed = headline(summary.reset_index())
    assert verdict == "holds"
    assert printed == ["C.sec45.ineq as printed: violated (erratum C3; C.sec45.ineq_nN tests "
                       "the corrected statement)"]
    # without the corrected check in the table the printed one decides
    alone = check_summary(checks[checks["check"] != "C.sec45.ineq_nN"])
    assert headline(alone) == ("violated", [])


def test_vacuous_holds_are_not_a_pass():
    summary = check_summary(pd.DataFrame(_rows("A.eq10.rho", ["vacuous", "vacuous"])))
    assert summary.loc[0, "verdict"] == "vacuous" and summary.loc[0, "n_vacuous"] == 2
    assert headline(summary)[0] == "vacuous"


def test_every_erratum_a_check_names_is_in_the_errata():
    from overparam.checks.deep_linear import SEC45_AS_PRINTED

    text = (Path(__file__).resolve().parents[1] / "docs" / "errata.md").read_text()
    assert re.search(rf"^## {SEC45_AS_PRINTED['erratum']}\. ", text, re.M)


def test_the_packaged_errata_are_docs_errata_and_every_entry_parses():
    """The report quotes errata from the package; that is docs/errata.md, entry by entry."""
    from overparam.report import errata

    text = (Path(__file__).resolve().parents[1] / "docs" / "errata.md").read_text()
    ids = re.findall(r"^## ([A-Z]\d+)\. ", text, re.M)
    assert ids and list(errata.entries()) == ids
    assert all(body for _, body in errata.entries().values())
    assert errata.entries()["C3"][0].startswith("§4.5: the bad-saddle bound")


# ------------------------------------------------------------------ the results folder
def test_another_spec_is_refused_more_seeds_add_and_replace_is_explicit(tmp_path, tiny):
    spec = str(_yaml(tmp_path, tiny, "store"))
    out = tmp_path / "o"
    res, text = _invoke("run-spec", spec, "--out", str(out))
    assert res.exit_code == 0 and "reused 0, computed 2" in text
    res, text = _invoke("run-spec", spec, "--out", str(out))
    assert res.exit_code == 0 and "reused 2, computed 0" in text
    before = {p: p.stat().st_mtime_ns for p in (out / "store").rglob("*") if p.is_file()}
    res, text = _invoke("run-spec", spec, "--out", str(out), "--steps", "5")
    assert res.exit_code == 2 and "--replace" in text and "holds 2 runs" in text
    assert before == {p: p.stat().st_mtime_ns for p in (out / "store").rglob("*")
                      if p.is_file()}, "a refused command wrote something"
    res, text = _invoke("run-spec", spec, "--out", str(out), "--seeds", "3")
    assert res.exit_code == 0 and "reused 2, computed 1" in text  # nothing lost: allowed
    res, text = _invoke("run-spec", spec, "--out", str(out), "--steps", "5", "--replace")
    assert res.exit_code == 0 and "computed 2" in text
    assert len(pd.read_parquet(out / "store" / "runs.parquet")) == 2
    assert not (out / "store" / ".parts").exists()


def test_a_folder_of_another_tables_schema_is_refused_until_replace(tmp_path, tiny):
    spec = str(_yaml(tmp_path, tiny, "schema"))
    out = tmp_path / "o"
    assert _invoke("run-spec", spec, "--out", str(out))[0].exit_code == 0
    manifest = out / "schema" / "manifest.json"
    old = json.loads(manifest.read_text())
    del old["schema"]  # as written before the schema was recorded
    manifest.write_text(json.dumps(old))
    res, text = _invoke("run-spec", spec, "--out", str(out))
    assert res.exit_code == 2 and "schema 1" in text and "--replace" in text
    res, text = _invoke("run-spec", spec, "--out", str(out), "--replace")
    assert res.exit_code == 0 and json.loads(manifest.read_text())["schema"] == 2


def test_run_ids_carry_the_tables_schema(monkeypatch, tiny):
    from overparam import runner

    p = runner.plan(tiny)
    now = p.run_id(p.settings[0], 0)
    monkeypatch.setattr(runner, "TABLES_SCHEMA", 1)
    assert p.run_id(p.settings[0], 0) != now  # an older folder's runs are never reused


def test_dict_specs_without_an_id_get_one_from_their_content(tmp_path, tiny):
    del tiny["id"]
    first = op.run(tiny, out=tmp_path)
    other = copy.deepcopy(tiny)
    other["steps"] = 7
    second = op.run(other, out=tmp_path)
    assert first.path != second.path and first.experiment_id.startswith("user-")
    assert len(op.run(tiny, out=tmp_path).runs) == 2  # the same dict: the same folder
    with pytest.raises(SpecError, match="--out"):
        op.run({**tiny, "id": first.experiment_id, "steps": 9}, out=tmp_path)


def test_the_manifest_records_the_settings_that_ran(tmp_path, tiny):
    tiny["sweep"] = {"problem.width": [12, 14]}
    res = op.run(tiny, out=tmp_path)
    settings = json.loads((res.path / "manifest.json").read_text())["settings"]
    assert [s["problem"]["width"] for s in settings] == [12, 14]


# ------------------------------------------------------------------ bad input: one line, exit 2
def _bomb(levels: int = 12) -> str:
    """A YAML alias bomb under sweep: each level doubles the values (2^12 here)."""
    lines = ['a0: &a0 ["x", "y"]']
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\nsweep: {{schedule.kind: *a{levels}}}\n"


def _nested(depth: int) -> dict:
    node: dict = {"kind": "gaussian"}
    for _ in range(depth):
        node = {"x": node}
    return node


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    import os

    files = {"empty": tmp_path / "empty.npy", "fifo": tmp_path / "fifo.npy",
             "huge": tmp_path / "huge.npy", "Y": tmp_path / "Y.npy"}
    np.save(files["empty"], np.zeros((0, 3)))
    np.save(files["Y"], np.ones((4, 2)))
    os.mkfifo(files["fifo"])
    header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 2)))
    header["shape"] = (10**6, 10**6)
    with open(files["huge"], "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(np.zeros(4).tobytes())
    return files


BAD_INPUT = [
    ("nesting", lambda t, f: {"init": _nested(500)}, "levels deep"),
    ("duplicate sweep", lambda t, f: {"sweep": {"schedule.kind": ["local_pl", "local_pl"]}},
     "twice"),
    ("duplicate cases", lambda t, f: {"cases": [{"steps": 3}, {"steps": 3}]}, "repeats"),
    ("same setting twice", lambda t, f: {"cases": [{"steps": 3}, {"steps": 4}],
                                         "sweep": {"steps": [5]}}, "same setting"),
    ("id index.html", lambda t, f: {"id": "index.html"}, "index.html"),
    ("hidden id", lambda t, f: {"id": ".hidden"}, "leading dot"),
    ("huge title", lambda t, f: {"title": "x" * 20_000}, "characters"),
    ("zero rows", lambda t, f: {"problem.data": {"kind": "npy", "X": str(f["empty"]),
                                                 "Y": str(f["Y"])}}, "no rows"),
    ("fifo data", lambda t, f: {"problem.data": {"kind": "npy", "X": str(f["fifo"]),
                                                 "Y": str(f["Y"])}}, "not a regular file"),
    ("device data", lambda t, f: {"problem.data": {"kind": "npy", "X": "/dev/zero",
                                                   "Y": str(f["Y"])}}, "not a regular file"),
    ("header-declared size", lambda t, f: {"problem.data": {"kind": "npy", "X": str(f["huge"]),
                                                            "Y": str(f["Y"])}}, "declares"),
]


@pytest.mark.parametrize("name,change,words", BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, tiny, name, change, words):
    from overparam.spec import set_path

    spec = copy.deepcopy(tiny)
    for key, value in change(tmp_path, _bad_files(tmp_path)).items():
        spec = set_path(spec, key, value)
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML (and writes 500 levels)
    out = tmp_path / "out"
    res, text = _invoke("run-spec", str(path), "--out", str(out))
    assert res.exit_code == 2, text
    assert words in text and "Traceback" not in text and len(text.strip().splitlines()) == 1
    assert not out.exists()


def test_an_alias_bomb_is_refused_quickly(tmp_path, tiny):
    import time

    path = tmp_path / "bomb.yaml"
    body = yaml.safe_dump({k: v for k, v in tiny.items() if k != "sweep"})
    path.write_text(body + _bomb(20))  # 2^20 values if expanded
    t0 = time.perf_counter()
    res, text = _invoke("run-spec", str(path), "--out", str(tmp_path / "out"))
    assert res.exit_code == 2 and "aliases count" in text, text
    assert time.perf_counter() - t0 < 20


def test_markup_in_an_id_is_printed_as_text(tmp_path, tiny):
    res, text = _invoke("run-spec", str(_yaml(tmp_path, tiny, "[/foo]x")), "--out",
                        str(tmp_path / "o"))
    assert res.exit_code == 0, text
    assert "[/foo]x: 2 runs" in text


def test_quoted_errata_keep_lists_tables_code_and_emphasis():
    from overparam.report import errata

    html = errata._paragraphs("- one `x`\n- two **b**\n\n| a | b |\n|---|---|\n\n    cmd --x\n\nend")
    assert html == ("<ul><li>one <code>x</code></li><li>two <strong>b</strong></li></ul>"
                    "<pre>| a | b |\n|---|---|</pre><pre><code>cmd --x</code></pre><p>end</p>")
