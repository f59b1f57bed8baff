"""The report of a real `overparam reproduce --quick` folder, rendered in headless Chromium.

Every image must load and decode, and the page must log no error: no console error, no
uncaught exception, no failed load. Chromium is driven through the DevTools protocol over
``--remote-debugging-pipe`` (JSON messages ending in a NUL byte; it reads fd 3 and writes
fd 4), so no extra Python package is needed. Without Chromium the tests are skipped.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

#: These tests read the one quick reproduction: under pytest-xdist they share a worker.
pytestmark = pytest.mark.xdist_group("reproduce")

#: Longest a whole browser session may take before the test fails.
BUDGET_S = 60.0

#: Loads every image eagerly, waits for each to load or fail, scrolls to the bottom, and
#: returns the number of images and the src of each one that did not load and decode.
LOAD_ALL_IMAGES = """
(async () => {
  const imgs = Array.from(document.images);
  for (const img of imgs) img.loading = "eager";
  await Promise.allSettled(imgs.map((img) => img.decode()));
  window.scrollTo(0, document.documentElement.scrollHeight);
  return {
    count: imgs.length,
    failed: imgs.filter((img) => !(img.complete && img.naturalWidth > 0))
                .map((img) => img.getAttribute("src")),
  };
})()
"""


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the Chromium executable; skips (before the results are built) when absent."""
    for name in ("chromium", "chromium-browser"):
        exe = shutil.which(name)
        if exe:
            return exe
    pytest.skip("chromium not installed: run `make browser`")


class Browser:
    """Headless Chromium spoken to over the DevTools pipe, with one deadline for everything."""

    def __init__(self, exe: str, workdir: Path, budget_s: float = BUDGET_S) -> None:
        """Start Chromium with its profile and its output log in ``workdir``."""
        self.budget_s = budget_s
        self.deadline = time.monotonic() + budget_s
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "chromium.log"
        self.events: list[dict[str, Any]] = []
        self._buf = b""
        self._last_id = 0
        flags = [
            "--headless=new",
            "--remote-debugging-pipe",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={workdir / 'profile'}",
        ]
        to_browser, self._to_w = os.pipe()
        self._from_r, from_browser = os.pipe()
        try:
            # Chromium reads commands from fd 3 and writes replies to fd 4: posix_spawn's dup2
            # actions put the pipe ends there without running Python code in the child (safe
            # in a process with threads). Its own session lets close() kill it together with
            # its helper processes.
            self.pid = os.posix_spawn(
                exe,
                [exe, *flags, "about:blank"],
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, str(self.log), os.O_WRONLY | os.O_CREAT, 0o644),
                    (os.POSIX_SPAWN_DUP2, 1, 2),
                    (os.POSIX_SPAWN_DUP2, to_browser, 3),
                    (os.POSIX_SPAWN_DUP2, from_browser, 4),
                ],
                setsid=True,
            )
        except BaseException:
            os.close(self._to_w)
            os.close(self._from_r)
            raise
        finally:
            os.close(to_browser)
            os.close(from_browser)

    def close(self) -> None:
        """Kill Chromium and everything it started, and close the pipe."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self._to_w)
        os.close(self._from_r)

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(
                f"browser did not answer within {self.budget_s:g} s{self._log_tail()}"
            )
        return left

    def _log_tail(self) -> str:
        try:
            tail = self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""
        return f"\n--- chromium output ---\n{tail}" if tail.strip() else ""

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._last_id += 1
        msg: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            _, writable, _ = select.select([], [self._to_w], [], self._remaining())
            if writable:
                data = data[os.write(self._to_w, data):]
        return self._last_id

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message; None if none came within ``timeout`` (None: the whole budget)."""
        until = time.monotonic() + timeout if timeout is not None else None
        while b"\0" not in self._buf:
            wait = self._remaining()
            if until is not None:
                wait = min(wait, until - time.monotonic())
                if wait <= 0:
                    return None
            readable, _, _ = select.select([self._from_r], [], [], wait)
            if readable:
                chunk = os.read(self._from_r, 1 << 16)
                if not chunk:
                    raise RuntimeError(f"chromium closed the pipe{self._log_tail()}")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command and return its result; events seen meanwhile go to ``events``."""
        sent = self.send(method, params, session)
        while True:
            msg = self.recv()
            assert msg is not None
            if msg.get("id") == sent:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, since: int = 0) -> dict:
        """Params of the first event ``method`` from ``events[since]`` on, or still to come."""
        for msg in self.events[since:]:
            if msg.get("method") == method:
                return msg.get("params", {})
        while True:
            msg = self.recv()
            assert msg is not None
            self.events.append(msg)
            if msg.get("method") == method:
                return msg.get("params", {})

    def drain(self, quiet_s: float = 0.5) -> None:
        """Keep collecting events until none has come for ``quiet_s``."""
        while (msg := self.recv(quiet_s)) is not None:
            self.events.append(msg)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    """Readable console errors, uncaught exceptions and failed loads among ``events``."""
    urls = {
        e["params"]["requestId"]: e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
    }
    out = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") == "error":
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            out.append(f"console.error: {args}")
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}".rstrip())
        elif method == "Network.loadingFailed":
            out.append(f"load failed: {p.get('errorText')} {urls.get(p.get('requestId'), '')}")
    return out


#: What overflows a viewport: the page's own width beyond it, images wider than it, and, per
#: check or claim table, whether its verdict column is inside the viewport (it is sticky at
#: the right edge of the table's scroll box).
LAYOUT = """
(() => {
  const w = window.innerWidth;
  const imgs = Array.from(document.images).filter((i) => i.getBoundingClientRect().right > w + 1);
  const hidden = Array.from(document.querySelectorAll("th.vh")).filter((th) => {
    const r = th.getBoundingClientRect();
    return r.width === 0 || r.left < -1 || r.right > w + 1;
  });
  return {width: w, page: document.documentElement.scrollWidth, wide_images: imgs.length,
          verdicts: document.querySelectorAll("th.vh").length, hidden_verdicts: hidden.length};
})()
"""


def render(index: Path, exe: str, workdir: Path, width: int | None = None,
           expression: str = LOAD_ALL_IMAGES) -> tuple[dict[str, Any], list[str]]:
    """Open ``index`` (at a viewport ``width`` in CSS pixels, a phone's when small) with every
    image loaded; the value of ``expression`` (by default the image count and failures), and
    the page's errors."""
    browser = Browser(exe, workdir)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call(
            "Target.attachToTarget", {"targetId": target, "flatten": True}
        )["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            browser.call(f"{domain}.enable", session=session)
        if width is not None:
            browser.call("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": 900, "deviceScaleFactor": 1,
                          "mobile": width < 600}, session)
        since = len(browser.events)
        nav = browser.call("Page.navigate", {"url": index.resolve().as_uri()}, session)
        assert "errorText" not in nav, nav
        browser.wait_for("Page.loadEventFired", since)
        result = browser.call(
            "Runtime.evaluate",
            {"expression": LOAD_ALL_IMAGES, "awaitPromise": True, "returnByValue": True},
            session,
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        if expression != LOAD_ALL_IMAGES:
            result = browser.call("Runtime.evaluate",
                                  {"expression": expression, "returnByValue": True}, session)
            assert "exceptionDetails" not in result, result["exceptionDetails"]
        browser.drain()
        return result["result"]["value"], _errors(browser.events)
    finally:
        browser.close()


def test_report_renders_every_image_without_errors(
    chromium: str, reproduced: Path, tmp_path: Path
) -> None:
    images, errors = render(reproduced / "index.html", chromium, tmp_path / "browser")
    n_figures = sum(
        len(json.loads(m.read_text(encoding="utf-8"))["figures"])
        for m in reproduced.glob("*/manifest.json")
    )
    assert images["count"] == n_figures > 0
    assert images["failed"] == []
    assert errors == []


@pytest.mark.parametrize("width", [420, 1280])
def test_report_fits_a_phone_and_a_desktop(
    chromium: str, reproduced: Path, tmp_path: Path, width: int
) -> None:
    """Nothing wider than the viewport: figures scale down, tables scroll inside their box,
    and every table's verdict column stays in view."""
    layout, errors = render(reproduced / "index.html", chromium, tmp_path / "browser", width,
                            expression=LAYOUT)
    assert layout["width"] == width and errors == []
    assert layout["page"] <= width, layout
    assert layout["wide_images"] == 0, layout
    assert layout["verdicts"] > 0 and layout["hidden_verdicts"] == 0, layout


def test_browser_check_reports_a_missing_figure(
    chromium: str, reproduced: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "results"
    shutil.copytree(reproduced, copy, ignore=shutil.ignore_patterns("*.parquet", "*.pdf"))
    gone = sorted(copy.glob("*/figures/*.png"))[0]
    gone.unlink()
    rel = gone.relative_to(copy).as_posix()
    images, errors = render(copy / "index.html", chromium, tmp_path / "browser")
    assert images["failed"] == [rel]
    assert any(gone.name in e for e in errors), errors


def test_a_hung_browser_fails_within_the_budget(tmp_path: Path) -> None:
    silent = tmp_path / "silent-browser"
    silent.write_text("#!/bin/sh\nexec sleep 600\n")
    silent.chmod(0o755)
    browser = Browser(str(silent), tmp_path / "browser", budget_s=1.0)
    start = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            browser.call("Target.getTargets")
    finally:
        browser.close()
    assert time.monotonic() - start < 10
