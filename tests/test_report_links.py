"""The report of a real `overparam reproduce --quick` folder: links, images and card contents.

Static checks on index.html (no browser): every relative link and image resolves to a file
inside the results folder, every in-page anchor exists, nothing is fetched from the network,
and each experiment folder has one card, under its paper's section, with its exact command,
its verdict table with tightness ratios and its timings.
"""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd
import pytest

#: These tests read the one quick reproduction: under pytest-xdist they share a worker.
pytestmark = pytest.mark.xdist_group("reproduce")

PAPERS = {"A", "B", "C", "D", "E"}  # E: the edge of stability, on the generic probe
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Attributes that make a browser fetch or link something.
URL_ATTRS = {"href", "src", "srcset", "action", "data", "poster", "formaction"}
TIMINGS = (("total_s", "total"), ("compile_s", "compile"), ("run_s", "run"), ("theory_s", "theory"))


class _Node:
    """A start tag with its attributes, its text content and the tags nested in it."""

    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag, self.attrs = tag, attrs
        self.text: list[str] = []
        self.children: list[_Node] = []

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def all_text(self) -> str:
        return "".join(self.text)

    def find(self, tag: str, cls: str | None = None) -> list[_Node]:
        """Descendants with this tag (and class), in document order."""
        out = []
        for c in self.children:
            if c.tag == tag and (cls is None or cls in c.classes):
                out.append(c)
            out.extend(c.find(tag, cls))
        return out


class _Page(HTMLParser):
    """Builds a light tree of the page (void elements never hold children)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#document", {})
        self.stack = [self.root]
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        for name, value in attrs:
            if name in URL_ATTRS and value is not None:
                self.urls.append((tag, name, value))
            if name == "id" and value:
                self.ids.append(value)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for node in self.stack:
            node.text.append(data)


@pytest.fixture(scope="module")
def page(reproduced: Path) -> tuple[str, _Page]:
    html = (reproduced / "index.html").read_text(encoding="utf-8")
    p = _Page()
    p.feed(html)
    p.close()
    return html, p


@pytest.fixture(scope="module")
def manifests(reproduced: Path) -> dict[str, dict]:
    """Manifest of every experiment folder, by folder name."""
    out = {
        d.name: json.loads((d / "manifest.json").read_text(encoding="utf-8"))
        for d in sorted(reproduced.iterdir())
        if (d / "manifest.json").is_file()
    }
    assert out, "reproduce wrote no experiment folder"
    return out


def _local_file(root: Path, url: str) -> Path:
    """The file a relative URL of index.html points at; fails if it leaves ``root``."""
    parts = urlsplit(url)
    assert not parts.scheme and not parts.netloc, f"absolute URL {url!r}"
    assert not parts.path.startswith("/"), f"root-relative URL {url!r}"
    target = (root / unquote(parts.path)).resolve()
    assert target.is_relative_to(root.resolve()), f"{url!r} points outside the results folder"
    return target


def test_relative_links_and_images_resolve(reproduced: Path, page: tuple[str, _Page]) -> None:
    _, p = page
    assert p.urls
    for tag, attr, url in p.urls:
        if url.startswith("#"):
            continue
        values = [u.split()[0] for u in url.split(",")] if attr == "srcset" else [url]
        for u in values:
            target = _local_file(reproduced, u)
            assert target.is_file(), f"<{tag} {attr}={url!r}>: {target} does not exist"

    imgs = p.root.find("img")
    assert imgs
    for img in imgs:
        src = img.attrs.get("src") or ""
        target = _local_file(reproduced, src)
        assert target.suffix == ".png", src
        assert target.is_file() and target.stat().st_size > 0, src
        assert target.read_bytes()[:8] == PNG_MAGIC, f"{src} is not a PNG"
        assert img.attrs.get("alt"), f"{src} has no alt text"


def test_in_page_anchors_exist(page: tuple[str, _Page]) -> None:
    _, p = page
    assert len(p.ids) == len(set(p.ids)), "duplicate ids"
    anchors = [u for _, _, u in p.urls if u.startswith("#")]
    assert anchors, "expected a table of contents"
    missing = sorted({a for a in anchors if unquote(a[1:]) not in set(p.ids)})
    assert not missing, missing


def test_page_is_offline(page: tuple[str, _Page]) -> None:
    html, p = page
    low = html.lower()
    for needle in ("http://", "https://", "//cdn", "@import", "url(", "<script", "<iframe",
                   "<link"):
        assert needle not in low, f"{needle!r} in index.html"
    for tag, attr, url in p.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"<{tag} {attr}={url!r}>"
        assert not url.startswith("/"), f"<{tag} {attr}={url!r}>"


def _cards(p: _Page) -> dict[str, tuple[str, _Node]]:
    """Card of every experiment, by folder (from its manifest.json link), with its section."""
    out: dict[str, tuple[str, _Node]] = {}
    for section in p.root.find("section"):
        h2 = section.find("h2")
        heading = h2[0].all_text() if h2 else ""
        for card in section.find("article", "card"):
            folders = {
                unquote(a.attrs.get("href") or "").split("/")[0]
                for a in card.find("a")
                if unquote(a.attrs.get("href") or "").endswith("/manifest.json")
            }
            assert len(folders) == 1, f"card {card.attrs.get('id')} links {folders}"
            folder = folders.pop()
            assert folder not in out, f"two cards for {folder}"
            out[folder] = (heading, card)
    return out


def test_one_section_per_paper_and_one_card_per_experiment(
    page: tuple[str, _Page], manifests: dict[str, dict]
) -> None:
    _, p = page
    papers = {m["paper"] for m in manifests.values()}
    assert papers == PAPERS
    headings = [h2.all_text() for s in p.root.find("section") for h2 in s.find("h2")[:1]]
    # one section per paper, then the errata the verdicts cite (C3 at least: paper C's
    # headline sets aside its printed §4.5 inequality)
    assert headings[-1] == "Errata cited"
    assert sorted(re.match(r"Paper (\S+)", h).group(1) for h in headings[:-1]) == sorted(papers)
    assert p.root.find("article", "erratum")

    cards = _cards(p)
    assert sorted(cards) == sorted(manifests)
    assert len(p.root.find("article", "card")) == len(manifests)
    for folder, (heading, _) in cards.items():
        assert heading.startswith(f"Paper {manifests[folder]['paper']}"), (folder, heading)


def _seconds_ok(shown: str, value: float) -> bool:
    """Whether ``shown`` (e.g. ``6.80 s``) is ``value`` rounded to the shown precision."""
    m = re.fullmatch(r"(\d+(?:\.(\d+))?) s", shown)
    if not m:
        return False
    decimals = len(m.group(2) or "")
    return abs(float(m.group(1)) - value) <= 0.5 * 10.0**-decimals + 1e-12


def _ratio(x: float) -> str:
    return "\u2014" if math.isnan(x) else f"{x:.3g}"


def test_cards_show_command_verdicts_ratios_and_timings(
    reproduced: Path, page: tuple[str, _Page], manifests: dict[str, dict]
) -> None:
    _, p = page
    cards = _cards(p)
    n_ratios = 0
    for folder, m in manifests.items():
        _, card = cards[folder]
        # The exact command, in its own code block.
        assert m["command"] in [c.all_text() for c in card.find("code")], folder

        # Timings: total, compile, run and theory seconds from the manifest.
        meta = " ".join(d.all_text() for d in card.find("div", "meta"))
        for key, label in TIMINGS:
            shown = re.search(rf"\b{label} (\d+(?:\.\d+)? s)", meta)
            assert shown, f"{folder}: no {label} time"
            assert _seconds_ok(shown.group(1), float(m["timings"][key])), (folder, key, shown)

        # Figures: one image per figure of the manifest.
        srcs = [unquote(i.attrs.get("src") or "") for i in card.find("img")]
        assert srcs == [f"{folder}/{f}" for f in m["figures"]], folder

        # Verdict table: one row per check, verdict and tightness ratios aggregated over runs.
        checks = pd.read_parquet(reproduced / folder / "checks.parquet")
        tables = card.find("table", "checks")
        if checks.empty:  # a general model: no paper's theorem, its verdicts are claims
            assert not tables and card.find("table", "claims"), folder
            continue
        assert len(tables) == 1, folder
        head = [th.all_text() for th in tables[0].find("th")]
        assert {"check", "verdict", "median ratio", "max ratio"} <= set(head), head
        col = {name: i for i, name in enumerate(head)}
        rows = {}
        for tr in tables[0].find("tr"):
            cells = [td.all_text().strip() for td in tr.find("td")]
            if cells:
                rows[cells[col["check"]]] = cells
        assert sorted(rows) == sorted(checks["check"].unique()), folder
        for check, g in checks.groupby("check"):
            cells = rows[check]
            verdict = cells[col["verdict"]]
            if (g["status"] == "violated").any():
                assert verdict.endswith("violated"), (folder, check, verdict)
            elif (g["status"] == "not_applicable").all():
                assert verdict.endswith("n/a"), (folder, check, verdict)
            else:
                assert verdict.endswith("holds"), (folder, check, verdict)
            med = float(pd.to_numeric(g["median_ratio"], errors="coerce").median())
            top = float(pd.to_numeric(g["max_ratio"], errors="coerce").max())
            assert cells[col["median ratio"]] == _ratio(med), (folder, check)
            assert cells[col["max ratio"]] == _ratio(top), (folder, check)
            n_ratios += not math.isnan(med)
    assert n_ratios, "no tightness ratio in the whole report"
