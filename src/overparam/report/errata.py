"""The errata a report cites, from docs/errata.md (shipped with the package as
``overparam/errata.md``): a reader who sees "erratum C3" beside a verdict can read the entry
on the same page, offline."""

from __future__ import annotations

import re
from functools import cache
from html import escape
from importlib import resources

#: "erratum C3", "errata A10", "docs/errata.md B6": an id is a paper letter and a number.
_CITED = re.compile(r"\b(errat(?:um|a)(?:\.md)?[ ,]+)([A-Z]\d{1,2})\b")
_HEADING = re.compile(r"^## ([A-Z]\d{1,2})\. (.+)$")


@cache
def entries() -> dict[str, tuple[str, str]]:
    """Erratum id -> (title, markdown body); empty when the document is not installed."""
    try:
        text = resources.files("overparam").joinpath("errata.md").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return {}
    out: dict[str, tuple[str, str]] = {}
    current: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m or line.startswith("## "):
            if current:
                out[current] = (out[current][0], "\n".join(body).strip())
            current, body = (m.group(1), []) if m else (None, [])
            if m:
                out[current] = (m.group(2), "")
        elif current:
            body.append(line)
    if current:
        out[current] = (out[current][0], "\n".join(body).strip())
    return out


def anchor(erratum_id: str) -> str:
    """The report's anchor of an erratum."""
    return f"erratum-{erratum_id}"


def link_citations(escaped: str, cited: set[str]) -> str:
    """Escaped HTML text with every citation of a known erratum turned into a link to its
    entry on the page; the ids linked are added to ``cited``."""
    known = entries()

    def sub(m: re.Match[str]) -> str:
        eid = m.group(2)
        if eid not in known:
            return m.group(0)
        cited.add(eid)
        return f'{m.group(1)}<a href="#{anchor(eid)}">{eid}</a>'

    return _CITED.sub(sub, escaped)


def _inline(text: str) -> str:
    """Escaped text on one line, with `code` spans and **strong** words."""
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(" ".join(text.split())))
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html)


def _paragraphs(markdown: str) -> str:
    """Minimal markdown: blank-line paragraphs, "- " lists, tables and indented blocks kept
    as they are, `code` spans."""
    html = []
    for block in re.split(r"\n\s*\n", markdown):
        if not block.strip():
            continue
        if all(line.startswith("    ") for line in block.splitlines() if line.strip()):
            code = "\n".join(line[4:] for line in block.splitlines())
            html.append(f"<pre><code>{escape(code)}</code></pre>")
            continue
        lines = [line for line in block.splitlines() if line.strip()]
        if all(line.lstrip().startswith("|") for line in lines):  # a table: as it is
            html.append(f"<pre>{escape(chr(10).join(lines))}</pre>")
        elif lines[0].startswith("- "):  # a list: items start with "- "
            items = re.split(r"\n(?=- )", "\n".join(lines))
            html.append("<ul>" + "".join(f"<li>{_inline(i[2:])}</li>" for i in items) + "</ul>")
        else:
            html.append(f"<p>{_inline(block)}</p>")
    return "".join(html)


def section(cited: set[str]) -> str:
    """The report's section with the cited entries ('' when none is cited)."""
    known = entries()
    ids = sorted((e for e in cited if e in known), key=lambda e: (e[0], int(e[1:])))
    if not ids:
        return ""
    items = "".join(
        f'<article id="{anchor(e)}" class="erratum"><h3>{escape(e)}. {escape(known[e][0])}'
        f"</h3>{_paragraphs(known[e][1])}</article>" for e in ids)
    return ('<section id="errata"><h2>Errata cited</h2><p class="muted">From docs/errata.md '
            "of the overparam source: what the paper prints, what is right or what overparam "
            f"decided, and a command that shows it.</p>{items}</section>")
