"""Tests for overparam.report: the static offline results gallery."""

from __future__ import annotations

import json
import math
import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from overparam.report import SUMMARY_COLUMNS, check_summary, write_report  # noqa: E402

EVIL_TITLE = 'Descent <script>alert("x")</script> & more'


class _PageParser(HTMLParser):
    """Collects ids, hrefs, img srcs/alts and all text of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if tag == "a" and a.get("href") is not None:
            self.hrefs.append(a["href"] or "")
        if tag == "img":
            self.imgs.append(a)
        if tag == "link" and a.get("href") is not None:
            self.hrefs.append(a["href"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _PageParser:
    p = _PageParser()
    p.feed(html)
    p.close()
    return p


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(1, 1), dpi=20)
    ax.plot([0, 1], [1, 0])
    fig.savefig(path)
    plt.close(fig)


def _check_rows(run_ids: list[str], check: str, statuses: list[str], **kw: object) -> list[dict]:
    rows = []
    for i, (rid, st) in enumerate(zip(run_ids, statuses, strict=True)):
        na = st == "not_applicable"
        rows.append(
            {
                "run_id": rid,
                "check": check,
                "paper": check.split(".")[0],
                "equation": kw.get("equation", "(3.1)"),
                "status": st,
                "holds": st != "violated",
                "n_steps": 100,
                "n_violations": 3 if st == "violated" else 0,
                "first_violation_step": 17.0 if st == "violated" else math.nan,
                "max_ratio": math.nan if na else 0.5 + 0.1 * i,
                "median_ratio": math.nan if na else 0.2 + 0.1 * i,
                "note": f"blew up in {rid}" if st == "violated" else ("n/a: no PL" if na else ""),
            }
        )
    return rows


def _experiment(
    root: Path,
    exp_id: str,
    *,
    paper: str,
    title: str,
    checks: pd.DataFrame | None,
    figures: list[str],
    make_figures: list[str],
    pdfs: list[str] = (),  # type: ignore[assignment]
    statuses: tuple[str, ...] = ("ok", "ok", "diverged"),
) -> Path:
    folder = root / exp_id.replace("/", "__")
    folder.mkdir(parents=True)
    runs = [{"run_id": f"r{i}", "status": s} for i, s in enumerate(statuses)]
    manifest = {
        "id": exp_id,
        "title": title,
        "paper": paper,
        "paper_title": f"Paper {paper} title <b>bold?</b>",
        "figure": "Fig 1",
        "version": "0.1.0",
        "command": f"overparam run {exp_id} --quick --seed 0 && echo '<done>'",
        "quick": paper == "A",
        "spec": {"width": 64, "lr": 0.1},
        "runs": runs,
        "timings": {"total_s": 12.345, "compile_s": 3.21, "run_s": 7.65, "theory_s": 0.432},
        "figures": figures,
        "summary": ["fitted exponent: 1.98 ± 0.02", "tightness < 1 <always>"],
        "created": "2024-01-01T00:00:00Z",
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    pd.DataFrame(runs).to_parquet(folder / "runs.parquet")
    pd.DataFrame({"run_id": ["r0", "r0"], "step": [0, 1], "loss": [1.0, 0.5]}).to_parquet(
        folder / "steps.parquet"
    )
    if checks is not None:
        checks.to_parquet(folder / "checks.parquet")
    for rel in make_figures:
        _png(folder / rel)
    for rel in pdfs:
        (folder / rel).write_bytes(b"%PDF-1.4\n%%EOF\n")
    return folder


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Two experiments in two papers, plus noise that must be ignored."""
    root = tmp_path / "results"
    root.mkdir()
    runs = ["r0", "r1", "r2"]
    checks_a = pd.DataFrame(
        _check_rows(runs, "A.thm3.1.descent", ["holds", "violated", "holds"])
        + _check_rows(runs, "A.lem2.pl", ["not_applicable"] * 3, equation="(2.4)")
        + _check_rows(runs, "A.cor4.rate", ["holds", "holds", "not_applicable"], equation="(4.2)")
    )
    _experiment(
        root,
        "local-pl/bound-tightness",
        paper="A",
        title=EVIL_TITLE,
        checks=checks_a,
        figures=["figures/loss.png", "figures/ratio.png", "figures/gone.png"],
        make_figures=["figures/loss.png", "figures/ratio.png"],
        pdfs=["figures/loss.pdf"],
    )
    # Paper B: empty checks.parquet; figures listed but all present.
    empty = pd.DataFrame(_check_rows(["r0"], "B.x", ["holds"])).iloc[0:0]
    _experiment(
        root,
        "ntk/width sweep",
        paper="B",
        title="NTK width sweep",
        checks=empty,
        figures=["figures/w.png"],
        make_figures=["figures/w.png"],
        statuses=("ok", "failed"),
    )
    # Paper B, no checks.parquet at all; sorts before "ntk/..." by id.
    _experiment(
        root,
        "mf/limit",
        paper="B",
        title="Mean-field limit",
        checks=None,
        figures=[],
        make_figures=[],
    )
    (root / "scratch").mkdir()  # no manifest: ignored
    (root / "scratch" / "junk.txt").write_text("x")
    (root / "notes.txt").write_text("not a folder")
    return root


def test_check_summary_aggregation() -> None:
    runs = ["r0", "r1", "r2"]
    df = pd.DataFrame(
        _check_rows(runs, "A.thm3.1.descent", ["holds", "violated", "holds"])
        + _check_rows(runs, "A.lem2.pl", ["not_applicable"] * 3, equation="(2.4)")
        + _check_rows(runs, "A.cor4.rate", ["holds", "holds", "not_applicable"])
    )
    s = check_summary(df).set_index("check")
    assert list(check_summary(df).columns) == SUMMARY_COLUMNS

    d = s.loc["A.thm3.1.descent"]
    assert d["verdict"] == "violated"
    assert (d["n_holds"], d["n_violated"], d["n_not_applicable"]) == (2, 1, 0)
    assert d["median_ratio"] == pytest.approx(0.3)  # median of 0.2, 0.3, 0.4
    assert d["max_ratio"] == pytest.approx(0.7)  # max of 0.5, 0.6, 0.7
    assert d["note"] == "blew up in r1"
    assert d["equation"] == "(3.1)"

    p = s.loc["A.lem2.pl"]
    assert p["verdict"] == "not_applicable"
    assert (p["n_holds"], p["n_violated"], p["n_not_applicable"]) == (0, 0, 3)
    assert math.isnan(p["median_ratio"]) and math.isnan(p["max_ratio"])
    assert p["note"] == "n/a: no PL"  # the n/a reason reaches the summary

    r = s.loc["A.cor4.rate"]
    assert r["verdict"] == "holds"
    assert (r["n_holds"], r["n_violated"], r["n_not_applicable"]) == (2, 0, 1)
    assert r["median_ratio"] == pytest.approx(0.25)


def test_check_summary_empty_and_status_fallback() -> None:
    empty = check_summary(pd.DataFrame())
    assert empty.empty and list(empty.columns) == SUMMARY_COLUMNS
    # Without a status column the holds flag decides.
    df = pd.DataFrame({"run_id": ["a", "b"], "check": ["c", "c"], "holds": [True, False]})
    s = check_summary(df)
    assert s.loc[0, "verdict"] == "violated"
    assert (s.loc[0, "n_holds"], s.loc[0, "n_violated"]) == (1, 1)


def test_write_report_gallery(results: Path) -> None:
    out = write_report(results)
    assert out == results / "index.html"
    assert out.is_file()
    assert not [p for p in results.iterdir() if p.name.endswith(".tmp")]
    html = out.read_text(encoding="utf-8")
    page = _parse(html)

    # Every image exists relative to index.html, and has alt text.
    assert len(page.imgs) == 3
    for img in page.imgs:
        src = img["src"] or ""
        assert not src.startswith("/")
        assert (out.parent / unquote(src)).is_file(), src
        assert img.get("alt")

    # Internal anchors resolve; relative file links exist on disk.
    internal = [h for h in page.hrefs if h.startswith("#")]
    assert internal, "expected a table of contents"
    for h in internal:
        assert h[1:] in page.ids, h
    for h in page.hrefs:
        if not h.startswith("#"):
            assert (out.parent / unquote(h)).is_file(), h
    # The PDF beside loss.png is linked.
    assert any(unquote(h).endswith("figures/loss.pdf") for h in page.hrefs)

    # Fully offline: no remote resources at all.
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()
    assert "@import" not in html

    # Escaping: the evil title never appears raw, but does appear as text.
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html
    text = "".join(page.text)
    assert EVIL_TITLE in text
    assert "<b>bold?</b>" in text  # paper title shown as text, not markup
    assert "b" not in page.tags  # ...so no <b> from the paper title leaked into markup
    assert "overparam run local-pl/bound-tightness --quick --seed 0 && echo '<done>'" in text

    # Header, version, sections and ordering (paper, then id).
    assert "0.1.0" in text
    assert "Paper A \u2014 Paper A title" in text
    i_a = html.index("bound-tightness")
    i_mf = html.index('id="exp-mf__limit"')
    i_ntk = html.index('id="exp-ntk__width-sweep"')
    assert i_a < i_mf < i_ntk

    # Card content: status counts, timings, summary, badges, missing figure, check states.
    assert "2 ok" in text and "1 diverged" in text and "0 failed" in text and "1 failed" in text
    assert "12.3 s" in text and "3.21 s" in text
    assert "total 12.3 s, compile 3.21 s, run 7.65 s, theory 0.43 s" in text
    assert "fitted exponent: 1.98 ± 0.02" in text and "tightness < 1 <always>" in text
    assert "quick" in text and "full" in text
    assert "Missing figure" in text and "figures/gone.png" in text
    assert "checks.parquet is empty" in text
    assert "No checks.parquet" in text
    assert "scratch" not in text

    # Verdict table: aggregated, coloured classes with readable text.
    assert 'class="v v-violated"' in html and "violated" in text
    assert 'class="v v-not_applicable"' in html and "n/a" in text
    assert 'class="v v-holds"' in html
    assert "blew up in r1" in text
    assert "0.7" in text and "0.3" in text


def test_write_report_is_idempotent_and_relocatable(results: Path, tmp_path: Path) -> None:
    first = write_report(results).read_text(encoding="utf-8")
    second = write_report(str(results)).read_text(encoding="utf-8")
    assert first == second
    moved = tmp_path / "elsewhere"
    results.rename(moved)
    page = _parse((moved / "index.html").read_text(encoding="utf-8"))
    for img in page.imgs:
        assert (moved / unquote(img["src"] or "")).is_file()


def test_empty_results_dir(tmp_path: Path) -> None:
    out = write_report(tmp_path)
    html = out.read_text(encoding="utf-8")
    assert "No results yet" in html
    assert html.lstrip().lower().startswith("<!doctype html>")
    page = _parse(html)
    assert not page.imgs
    for h in page.hrefs:
        assert not h.startswith("#") or h[1:] in page.ids
    assert "http://" not in html and "https://" not in html


def test_bad_manifest_is_skipped_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json", encoding="utf-8")
    html = write_report(tmp_path).read_text(encoding="utf-8")
    assert "No results yet" in html
    assert "Skipped folders" in html and "broken" in html


def test_missing_results_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "nope")


def test_timings_missing_keys_and_page_mode(tmp_path: Path) -> None:
    folder = tmp_path / "old__manifest"
    folder.mkdir()
    manifest = {"id": "old/manifest", "paper": "A", "timings": {"total_s": 2.5}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    out = write_report(tmp_path)
    text = "".join(_parse(out.read_text(encoding="utf-8")).text)
    assert "total 2.50 s, compile \u2014, run \u2014, theory \u2014" in text
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # a new file's mode, not 0600
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["index.html"]
