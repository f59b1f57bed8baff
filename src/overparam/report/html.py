"""The report page: one self-contained HTML string (inline CSS, no scripts, relative links)."""

from __future__ import annotations

import json
import math
import re
from html import escape
from pathlib import PurePosixPath
from typing import Any

from overparam.report import errata
from overparam.report.scan import Experiment, url
from overparam.report.summary import format_ratio, headline

_RUN_STATUSES: tuple[str, ...] = ("ok", "diverged", "failed", "stalled")
_VERDICT_LABEL = {"holds": "holds", "violated": "violated", "not_applicable": "n/a",
                  "vacuous": "vacuous", "fails": "fails", "cannot": "not evaluable",
                  "error": "error"}
_VERDICT_MARK = {"holds": "\u2713", "violated": "\u2717", "not_applicable": "\u2013",
                 "vacuous": "\u25cb", "fails": "\u2717", "cannot": "\u2013", "error": "!"}
#: Manifest timing keys shown on each card, with their labels.
_TIMINGS: tuple[tuple[str, str], ...] = (
    ("total_s", "total"),
    ("compile_s", "compile"),
    ("run_s", "run"),
    ("theory_s", "theory"),
)


_CSS = """
:root{--fg:#1d2127;--muted:#5c6670;--bg:#fff;--card:#f7f8fa;--line:#dde1e6;--code:#eef1f4;
--ok:#1a7f37;--ok-bg:#dcf5e3;--bad:#b42318;--bad-bg:#fde4e1;--na:#57606a;--na-bg:#eaeef2;
--quick:#8a5a00;--quick-bg:#fff1cc;--full:#0b5cad;--full-bg:#dcebfb}
@media (prefers-color-scheme:dark){:root{--fg:#e4e7eb;--muted:#9aa4ae;--bg:#15181c;--card:#1d2126;
--line:#2e343b;--code:#242a31;--ok:#5fd37f;--ok-bg:#143321;--bad:#ff8a80;--bad-bg:#3d1714;
--na:#aab3bc;--na-bg:#2a3037;--quick:#f2c45a;--quick-bg:#3a2e0c;--full:#7ab8ff;--full-bg:#132b45}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1100px;padding:1.25rem;font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{border-bottom:1px solid var(--line);margin-bottom:1rem}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.25rem;margin:1.8rem 0 .6rem;
border-bottom:1px solid var(--line);padding-bottom:.2rem}h3{font-size:1.08rem;margin:0 0 .3rem}
a{color:var(--full)}.muted{color:var(--muted)}.k{font-weight:600}
nav ul{margin:.2rem 0;padding-left:1.2rem}nav li{margin:.1rem 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.9rem 1rem;
margin:.9rem 0}
.meta{display:flex;flex-wrap:wrap;gap:.3rem 1rem;margin:.3rem 0;font-size:.92rem}
.badge{display:inline-block;padding:0 .45rem;border-radius:999px;font-size:.8rem;font-weight:600;
vertical-align:middle}
.quick{color:var(--quick);background:var(--quick-bg)}.full{color:var(--full);background:var(--full-bg)}
pre{background:var(--code);padding:.45rem .6rem;border-radius:6px;overflow-x:auto;margin:.4rem 0;
font-size:.85rem}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
ul.summary{margin:.3rem 0;padding-left:1.2rem;font-size:.92rem}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(440px,100%),1fr));gap:.7rem;
margin:.5rem 0}
figure{margin:0;background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:.4rem}
figure img{width:100%;height:auto;display:block}
figcaption{font-size:.8rem;color:var(--muted);margin-top:.25rem;word-break:break-all}
.missing{color:var(--bad)}
table{border-collapse:collapse;width:100%;font-size:.86rem;margin:.5rem 0}
th,td{border-bottom:1px solid var(--line);padding:.25rem .45rem;text-align:left;vertical-align:top}
caption{text-align:left;font-size:.85rem;padding:.1rem 0}
th{font-weight:600;background:var(--code)}td.num{text-align:right;font-variant-numeric:tabular-nums}
.v{font-weight:600;white-space:nowrap;border-radius:4px}
.v-holds{color:var(--ok);background:var(--ok-bg)}.v-violated{color:var(--bad);background:var(--bad-bg)}
.v-fails,.v-error{color:var(--bad);background:var(--bad-bg)}
.v-not_applicable,.v-vacuous,.v-cannot{color:var(--na);background:var(--na-bg)}
.v-vacuous{font-style:italic}.s-stalled{color:var(--quick)}.printed{font-size:.85rem}
.erratum{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.2rem .9rem;margin:.6rem 0}
.s-ok{color:var(--ok)}.s-diverged,.s-failed{color:var(--bad)}
details{margin:.4rem 0;font-size:.9rem}summary{cursor:pointer;color:var(--muted)}
.scroll{overflow-x:auto;max-width:100%}
.scroll td.v,.scroll th.vh{position:sticky;right:0;z-index:1;background-clip:padding-box}
th.vh{background:var(--code)}
@media (max-width:600px){body{padding:.6rem;font-size:14px}.card{padding:.6rem}
table{font-size:.8rem}th,td{padding:.2rem .3rem}}
footer{margin-top:2rem;border-top:1px solid var(--line);padding-top:.5rem;font-size:.85rem}
"""


def _e(x: Any) -> str:
    """HTML-escape any value as text."""
    return escape("" if x is None else str(x), quote=True)


def _fmt_seconds(x: Any) -> str:
    """Seconds with sensible precision, or an em dash."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "\u2014"
    if math.isnan(v):
        return "\u2014"
    return f"{v:.2f} s" if v < 10 else f"{v:.1f} s" if v < 1000 else f"{v:.0f} s"


def _slug(s: str) -> str:
    """A safe HTML id fragment."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", s).strip("-") or "x"


def _verdict_cell(verdict: str, tag: str = "td", extra_class: str = "") -> str:
    """A coloured verdict with a symbol and readable text (colour is never the only cue)."""
    label = _VERDICT_LABEL.get(verdict, verdict)
    mark = _VERDICT_MARK.get(verdict, "?")
    return (
        f'<{tag} class="{extra_class}v v-{_e(verdict)}" title="{_e(verdict)}">'
        f'<span aria-hidden="true">{mark}</span> {_e(label)}</{tag}>'
    )


def _verdict_badge(verdict: str) -> str:
    """An inline verdict badge (for card headings and the table of contents)."""
    return _verdict_cell(verdict, "span", "badge ")


def _experiment_verdict(exp: Experiment) -> str | None:
    """Overall verdict of an experiment's checks (None when it has none)."""
    return headline(exp.summary)[0]


def _printed_html(exp: Experiment) -> str:
    """The printed statements known wrong that the headline set aside, with their errata."""
    lines = headline(exp.summary)[1]
    if not lines:
        return ""
    items = "".join(f"<li>{_e(t)}</li>" for t in lines)
    return (f'<ul class="printed muted">{items}</ul><p class="printed muted">Each erratum '
            'is quoted under <a href="#errata">Errata cited</a> (docs/errata.md).</p>')


def _render_checks(exp: Experiment) -> str:
    """The aggregated check verdict table (or a short note when there is none)."""
    if exp.checks_error:
        return f'<p class="missing">Could not read checks.parquet: {_e(exp.checks_error)}</p>'
    s = exp.summary
    if s is None:
        return '<p class="muted">No checks.parquet: no theory checks recorded.</p>'
    if s.empty:
        return '<p class="muted">No theory checks recorded (checks.parquet is empty).</p>'
    rows = []
    for r in s.itertuples(index=False):
        rows.append(
            "<tr>"
            f"<td><code>{_e(r.check)}</code></td>"
            f"<td>{_e(r.equation)}</td>"
            f'<td class="num">{r.n_holds}</td>'
            f'<td class="num">{r.n_violated}</td>'
            f'<td class="num">{r.n_not_applicable}</td>'
            f'<td class="num">{r.n_vacuous}</td>'
            f"{_verdict_cell(r.verdict)}"
            f'<td class="num">{_e(format_ratio(r.median_ratio))}</td>'
            f'<td class="num">{_e(format_ratio(r.max_ratio))}</td>'
            f"<td>{_e(_note_with_erratum(r.note, r.erratum))}</td>"
            "</tr>"
        )
    head = (
        '<thead><tr><th scope="col">check</th><th scope="col">equation</th>'
        '<th scope="col" title="runs where it holds">holds</th>'
        '<th scope="col" title="runs where it is violated">violated</th>'
        '<th scope="col" title="runs where it does not apply">n/a</th>'
        '<th scope="col" title="runs where it held but the run stalled">vacuous</th>'
        '<th scope="col" class="vh">verdict</th>'
        '<th scope="col" title="median over runs of the median lhs/rhs ratio">median ratio</th>'
        '<th scope="col" title="max over runs of the max lhs/rhs ratio">max ratio</th>'
        '<th scope="col">note (first violation, else the reason)</th></tr></thead>'
    )
    return (
        f'<div class="scroll"><table class="checks"><caption class="muted">Theory checks, '
        f"aggregated over runs</caption>{head}<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _note_with_erratum(note: Any, erratum: Any) -> str:
    """A check's note, naming the erratum of a printed formula known wrong."""
    note = "" if not isinstance(note, str) else note
    if not isinstance(erratum, str) or not erratum or f"erratum {erratum}" in note:
        return note
    return f"{note} (erratum {erratum})".strip()


def _render_claims(exp: Experiment) -> str:
    """The paper's claims about the figure, evaluated on the runs (nothing when it has none)."""
    c = exp.claims
    if c is None or c.empty:
        return ""
    rows = "".join(
        f"<tr><td><code>{_e(r.claim)}</code></td><td>{_e(r.where)}</td>"
        f"<td>{_e(r.statement)}</td><td>{_e(r.measured)}</td>{_verdict_cell(r.verdict)}"
        f"<td>{_e(r.reason)}</td></tr>"
        for r in c.itertuples(index=False))
    head = ('<thead><tr><th scope="col">claim</th><th scope="col">paper</th>'
            '<th scope="col">statement</th><th scope="col">measured</th>'
            '<th scope="col" class="vh">verdict</th><th scope="col">why not evaluable</th>'
            '</tr></thead>')
    return (f'<div class="scroll"><table class="claims"><caption class="muted">The paper\'s '
            f"claims about this figure, on these runs</caption>{head}<tbody>{rows}</tbody>"
            "</table></div>")


def _render_figures(exp: Experiment) -> str:
    """The figure grid, with PDF links and explicit notes for missing files."""
    if not exp.figures:
        return '<p class="muted">No figures.</p>'
    items = []
    for f in exp.figures:
        pdf = f' \u00b7 <a href="{_e(f.pdf)}">PDF</a>' if f.pdf else ""
        if f.src:
            alt = f"{exp.manifest.get('title') or exp.exp_id}: {PurePosixPath(f.name).stem}"
            items.append(
                f'<figure><a href="{_e(f.src)}"><img src="{_e(f.src)}" alt="{_e(alt)}" '
                f'loading="lazy"></a><figcaption>{_e(f.name)}{pdf}</figcaption></figure>'
            )
        elif f.pdf:
            items.append(
                f'<figure><figcaption><a href="{_e(f.pdf)}">{_e(f.name)}</a> (PDF only)'
                "</figcaption></figure>"
            )
        else:
            items.append(
                f'<figure><p class="missing">Missing figure: <code>{_e(f.name)}</code></p></figure>'
            )
    return f'<div class="figs">{"".join(items)}</div>'


def _kv(label: str, value_html: str) -> str:
    """A labelled metadata item; ``value_html`` must already be escaped."""
    return f'<span><span class="k">{_e(label)}</span> {value_html}</span>'


def _render_card(exp: Experiment, anchor: str, cited: set[str]) -> str:
    """One experiment card; the errata it cites are linked and added to ``cited``."""
    m = exp.manifest
    title = m.get("title") or exp.exp_id
    quick = bool(m.get("quick", False))
    badge = (
        '<span class="badge quick" title="reduced-size quick run">quick</span>'
        if quick
        else '<span class="badge full" title="full-size run">full</span>'
    )
    counts = exp.run_counts
    total_runs = sum(counts.values())
    status_bits = [f'<span class="s-{s}">{counts.get(s, 0)} {s}</span>' for s in _RUN_STATUSES] + [
        f'<span class="s-other">{n} {_e(s)}</span>'
        for s, n in sorted(counts.items())
        if s not in _RUN_STATUSES
    ]
    timings = m.get("timings") if isinstance(m.get("timings"), dict) else {}
    figure_no = m.get("figure") or "\u2014"
    meta = [
        _kv("id", f"<code>{_e(exp.exp_id)}</code>"),
        _kv("paper", f"{_e(exp.paper)} \u00b7 {_e(figure_no)}"),
        _kv("runs", f"{total_runs}: {', '.join(status_bits)}"),
    ]
    timing_bits = [
        f'<span class="t-{key[:-2]}">{_e(label)} {_e(_fmt_seconds(timings.get(key)))}</span>'
        for key, label in _TIMINGS
    ]
    meta.append(_kv("time", ", ".join(timing_bits)))
    if m.get("created"):
        meta.append(f'<span class="muted">{_e(m["created"])}</span>')
    summary_lines = m.get("summary") or []
    if isinstance(summary_lines, str):
        summary_lines = [summary_lines]
    summary = (
        '<ul class="summary">' + "".join(f"<li>{_e(s)}</li>" for s in summary_lines) + "</ul>"
        if summary_lines
        else ""
    )
    command = m.get("command")
    cmd = (
        f"<pre><code>{_e(command)}</code></pre>"
        if command
        else '<p class="muted">No command recorded.</p>'
    )
    verdict = _experiment_verdict(exp)
    vbadge = _verdict_badge(verdict) if verdict else ""

    def cite(html: str) -> str:
        return errata.link_citations(html, cited)

    spec = m.get("spec")
    spec_html = (
        "<details><summary>resolved spec</summary><pre><code>"
        f"{_e(json.dumps(spec, indent=2, sort_keys=True, default=str))}</code></pre></details>"
        if spec
        else ""
    )
    data = " \u00b7 ".join(
        f'<a href="{_e(url(exp.folder, n))}">{_e(n)}</a>' for n in exp.data_files
    )
    data_html = f'<p class="meta muted">data: {data}</p>' if data else ""
    return (
        f'<article class="card" id="{_e(anchor)}">'
        f"<h3>{_e(title)} {badge} {vbadge}</h3>{cite(_printed_html(exp))}"
        f'<div class="meta">{"".join(meta)}</div>'
        f"{cmd}{cite(summary)}{_render_figures(exp)}{cite(_render_claims(exp))}"
        f"{cite(_render_checks(exp))}"
        f"{spec_html}{data_html}"
        "</article>"
    )


def render_page(exps: list[Experiment], skipped: list[tuple[str, str]]) -> str:
    """The whole HTML document."""
    versions = sorted({str(e.manifest["version"]) for e in exps if e.manifest.get("version")})
    if not versions:
        from overparam import __version__

        versions = [__version__]
    used: set[str] = set()
    cited: set[str] = set()  # errata linked from the cards, shown at the end

    def unique(base: str) -> str:
        anchor, i = base, 2
        while anchor in used:
            anchor, i = f"{base}-{i}", i + 1
        used.add(anchor)
        return anchor

    papers: dict[str, list[Experiment]] = {}
    for e in exps:
        papers.setdefault(e.paper, []).append(e)

    toc: list[str] = []
    sections: list[str] = []
    for paper, group in papers.items():
        paper_title = next(
            (str(e.manifest["paper_title"]) for e in group if e.manifest.get("paper_title")), ""
        )
        heading = f"Paper {paper}" + (f" \u2014 {paper_title}" if paper_title else "")
        pid = unique(f"paper-{_slug(paper)}")
        cards, items = [], []
        for e in group:
            aid = unique(f"exp-{_slug(e.folder)}")
            v = _experiment_verdict(e)
            tag = f" {_verdict_badge(v)}" if v else ""
            fig = f" ({_e(e.manifest['figure'])})" if e.manifest.get("figure") else ""
            items.append(
                f'<li><a href="#{_e(aid)}">{_e(e.manifest.get("title") or e.exp_id)}</a>'
                f'{fig} <code class="muted">{_e(e.exp_id)}</code>{tag}</li>'
            )
            cards.append(_render_card(e, aid, cited))
        toc.append(f'<li><a href="#{_e(pid)}">{_e(heading)}</a><ul>{"".join(items)}</ul></li>')
        sections.append(f'<section id="{_e(pid)}"><h2>{_e(heading)}</h2>{"".join(cards)}</section>')

    if exps:
        n_exp = len(exps)
        body = (
            f'<nav aria-label="Contents"><h2>Contents</h2><ul>{"".join(toc)}</ul></nav>'
            + "".join(sections)
        )
    else:
        n_exp = 0
        body = (
            '<p class="muted">No results yet: this directory has no experiment folders with a '
            "manifest.json. Run an experiment and regenerate the report.</p>"
        )
    skipped_html = ""
    if skipped:
        lis = "".join(f"<li><code>{_e(f)}</code>: {_e(err)}</li>" for f, err in skipped)
        skipped_html = f'<section><h2>Skipped folders</h2><ul class="missing">{lis}</ul></section>'

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>overparam results</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>overparam results</h1>"
        f'<p class="muted">overparam {_e(", ".join(versions))} \u00b7 {n_exp} experiment'
        f"{'' if n_exp == 1 else 's'} \u00b7 {len(papers)} paper{'' if len(papers) == 1 else 's'}"
        "</p></header>"
        f"<main>{body}{errata.section(cited)}{skipped_html}</main>"
        '<footer class="muted">Static offline report generated by '
        "<code>overparam.report.write_report</code>. All links are relative.</footer>"
        "</body></html>\n"
    )
