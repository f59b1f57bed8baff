"""Faults that must end in one bounded line (exit 2) or be recovered from, never a traceback
or a silent loss: markup in paths, deep --set values, huge keys, huge spec files, damaged
table data, a lost manifest, --out naming a file, a disk that fills while the tables are
written."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from overparam.cli import app
from overparam.errors import MAX_ERROR
from overparam.store import ExperimentStore


def _invoke(*args: str):
    res = CliRunner().invoke(app, [*args, "--no-progress"])
    return res, res.output


@pytest.fixture(scope="module")
def stored(tmp_path_factory, request):
    """A spec file and a results folder holding its two runs."""
    from conftest import TINY

    root = tmp_path_factory.mktemp("faults")
    spec = root / "tiny.yaml"
    spec.write_text(yaml.safe_dump({**TINY, "id": "tiny"}))
    res, text = _invoke("run-spec", str(spec), "--out", str(root / "out"))
    assert res.exit_code == 0, text
    return spec, root / "out"


def _copy(stored, tmp_path):
    spec, out = stored
    shutil.copytree(out, tmp_path / "out")
    return spec, tmp_path / "out"


def test_markup_in_the_out_path_is_printed_as_text(stored, tmp_path):
    spec, _ = stored
    out = tmp_path / "mk[/x]" / "o"
    res, text = _invoke("run-spec", str(spec), "--out", str(out))
    assert res.exit_code == 0, text
    assert f"results: {out / 'tiny'}" in text.replace("\n", "")


def test_a_deeply_nested_set_value_is_one_line(stored, tmp_path):
    spec, _ = stored
    res, text = _invoke("run-spec", str(spec), "--out", str(tmp_path / "o"), "--set",
                        "init.std=" + "[" * 500 + "]" * 500)
    assert res.exit_code == 2 and "nested" in text and "Traceback" not in text
    assert not (tmp_path / "o").exists()


def test_error_lines_are_bounded(stored, tmp_path):
    spec, _ = stored
    raw = yaml.safe_load(spec.read_text())
    raw["k" * 100_000] = 1
    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump(raw))
    res, text = _invoke("run-spec", str(big), "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "characters left out" in text
    assert len(text) < MAX_ERROR + 200


def test_a_huge_spec_file_is_refused_before_it_is_parsed(tmp_path):
    huge = tmp_path / "huge.yaml"
    huge.write_text("# padding\n" * 600_000)  # 6 MB of comments
    res, text = _invoke("run-spec", str(huge), "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "at most" in text


def test_damaged_table_data_is_recomputed(stored, tmp_path):
    spec, out = _copy(stored, tmp_path)
    steps = out / "tiny" / "steps.parquet"
    data = bytearray(steps.read_bytes())
    mid = len(data) // 2
    data[mid - 200: mid + 200] = b"\xff" * 400  # the data pages, not the footer
    steps.write_bytes(bytes(data))
    res, text = _invoke("run-spec", str(spec), "--out", str(out))
    assert res.exit_code == 0 and "computed 2" in text, text
    assert len(pd.read_parquet(steps)) == 2 * 16


def test_a_batch_with_damaged_data_pages_is_recomputed(tmp_path):
    store = ExperimentStore(tmp_path, "x")
    rows = pd.DataFrame({"run_id": "r", "step": np.arange(5000),
                         "loss": np.random.default_rng(0).standard_normal(5000)})
    store.save_batch([("r", rows, {"run_id": "r"})])
    part = next(store.parts.glob("*.steps.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 3: len(data) // 3 + 500] = b"\x00" * 500
    part.write_bytes(bytes(data))
    assert not ExperimentStore(tmp_path, "x").is_done("r")
    assert not part.exists()  # discarded: the rerun computes it again


def test_a_lost_manifest_does_not_let_another_spec_replace_the_runs(stored, tmp_path):
    spec, out = _copy(stored, tmp_path)
    (out / "tiny" / "manifest.json").unlink()
    res, text = _invoke("run-spec", str(spec), "--out", str(out), "--steps", "5")
    assert res.exit_code == 2 and "--replace" in text
    (out / "tiny" / "manifest.json").write_text("{not json")
    res, text = _invoke("run-spec", str(spec), "--out", str(out), "--steps", "5")
    assert res.exit_code == 2 and "--replace" in text
    res, text = _invoke("run-spec", str(spec), "--out", str(out))  # the same spec: reused
    assert res.exit_code == 0 and "reused 2" in text
    assert json.loads((out / "tiny" / "manifest.json").read_text())["runs"]


def test_out_naming_a_file_is_one_line(stored, tmp_path):
    spec, _ = stored
    (tmp_path / "afile").write_text("x")
    res, text = _invoke("run-spec", str(spec), "--out", str(tmp_path / "afile"))
    assert res.exit_code == 2 and "is a file" in text


def test_a_full_disk_while_writing_the_tables_replaces_none_and_the_rerun_resumes(
        stored, tmp_path, monkeypatch):
    """ENOSPC on the last of the three tables: exit 4 with one line naming the folder and the
    need for space, the old tables byte for byte, no temporary left; with space the same
    command resumes from the saved batches and computes nothing."""
    import errno

    from overparam.cli import EXIT_WRITE

    spec, out = _copy(stored, tmp_path)
    folder = out / "tiny"
    before = {p.name: p.read_bytes() for p in folder.glob("*.parquet")}
    real = pd.DataFrame.to_parquet

    def full(self, path, *args, **kwargs):
        if str(path).rsplit("/", 1)[-1].startswith(".runs.parquet."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    res, text = _invoke("run-spec", str(spec), "--out", str(out), "--set", "seeds=3")
    assert res.exit_code == EXIT_WRITE, text
    line, = text.strip().splitlines()[-1:]
    assert "it needs space" in line and f"under {out} " in line
    assert "Traceback" not in text
    assert {p.name: p.read_bytes() for p in folder.glob("*.parquet")} == before
    assert not list(folder.rglob("*.tmp"))
    monkeypatch.setattr(pd.DataFrame, "to_parquet", real)
    res, text = _invoke("run-spec", str(spec), "--out", str(out), "--set", "seeds=3")
    assert res.exit_code == 0, text
    assert "computed 0" in text
    assert len(pd.read_parquet(folder / "runs.parquet")) == 3


def test_a_folder_without_write_permission_is_one_line_and_exit_4(stored, tmp_path, monkeypatch):
    """A read-only --out (EACCES, EROFS: simulated, as root may write anywhere) names the
    folder and the permission it needs."""
    import errno

    from overparam import store
    from overparam.cli import EXIT_WRITE

    spec, out = _copy(stored, tmp_path)

    def refused(files):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(store, "write_together", refused)
    res, text = _invoke("run-spec", str(spec), "--out", str(out))
    assert res.exit_code == EXIT_WRITE, text
    assert "it needs write permission" in text and "Traceback" not in text
