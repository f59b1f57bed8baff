"""Static, offline HTML gallery of a results directory.

``write_report(results_dir)`` scans ``results_dir/<folder>/manifest.json`` (one folder per
experiment, ``folder`` = experiment id with ``/`` replaced by ``__``) and writes a single
self-contained ``results_dir/index.html``: inline CSS only, no scripts, no external resources,
and only relative links, so the whole directory can be moved or archived as is.

``check_summary(checks)`` aggregates a ``checks.parquet`` table over runs, one row per check;
the report uses it for its verdict tables and the CLI can print it.
"""


from pathlib import Path

from overparam.report.html import render_page
from overparam.report.scan import scan
from overparam.report.summary import SUMMARY_COLUMNS, VERDICTS, check_summary, headline
from overparam.store import atomic_write

__all__ = ["check_summary", "headline", "write_report", "SUMMARY_COLUMNS", "VERDICTS"]


def write_report(results_dir: str | Path) -> Path:
    """Render ``results_dir/index.html`` (atomically) and return its path.

    Folders without ``manifest.json`` are ignored; folders whose manifest cannot be parsed are
    listed as skipped. Raises ``FileNotFoundError`` if ``results_dir`` does not exist.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"results directory not found: {root}")
    exps, skipped = scan(root)
    out = root / "index.html"
    html = render_page(exps, skipped)
    atomic_write(out, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return out
