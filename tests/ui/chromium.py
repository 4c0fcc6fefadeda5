"""Headless Chromium (Debian's `chromium`, installed by `make test-tools`) driven over the
DevTools protocol.

Why the protocol and not `chromium --dump-dom`: the Temporal UI is a single-page app that
renders after its own API calls (and the workflow page's current details after a query to our
worker), so "rendered" is a condition to wait for, not a moment. `--virtual-time-budget` guesses
a moment; here the test polls the live page's text until what it expects appears, under a
deadline. The websocket client is `websocket-client`, already a dependency of the official
kubernetes client; nothing else is added.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import websocket

# Debian's package name; GASTOWN_TEST_CHROMIUM names another binary.
CHROMIUM = os.environ.get("GASTOWN_TEST_CHROMIUM", "chromium")
WINDOW = (1440, 1000)
T = TypeVar("T")


class BrowserError(RuntimeError):
    pass


def chromium_binary() -> str | None:
    return shutil.which(CHROMIUM)


def chromium_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def _shown(arg: dict[str, Any]) -> str:
    """A console argument as DevTools prints it: a value, or an object's own properties."""
    if "value" in arg:
        return str(arg["value"])
    preview = arg.get("preview")
    if preview:
        props = ", ".join(
            f"{p['name']}: {p.get('value', p.get('type'))}" for p in preview["properties"]
        )
        return f"{arg.get('description', '')} {{{props}}}"
    return str(arg.get("description", arg.get("type", "")))


class Chromium:
    """One headless browser with one page; `close()` ends the process it started."""

    def __init__(self, binary: str, deadline: float = 30) -> None:
        self._profile = tempfile.TemporaryDirectory(
            prefix="gastown-chromium-", ignore_cleanup_errors=True
        )
        self._log = open(Path(self._profile.name) / "chromium.log", "wb")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [
                binary,
                "--headless",
                # Root cannot use Chromium's user-namespace sandbox; the pages are our own
                # loopback UI.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile.name}",
                f"--window-size={WINDOW[0]},{WINDOW[1]}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        try:
            port = self._devtools_port(deadline)
            self._ws = websocket.create_connection(
                self._page_websocket(port), timeout=deadline, suppress_origin=True
            )
            # Recorded for `story()`: what the page asked and was answered, what it logged.
            for domain in ("Network", "Runtime", "Log"):
                self.send(f"{domain}.enable")
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, deadline: float) -> int:
        """Chromium writes the port it chose to DevToolsActivePort in its profile."""
        path = Path(self._profile.name) / "DevToolsActivePort"
        end = time.monotonic() + deadline
        while True:
            if self._proc.poll() is not None:
                raise BrowserError(f"chromium exited with {self._proc.returncode}: {self.log()}")
            if path.exists():
                first = path.read_text().split("\n", 1)[0].strip()
                if first.isdigit():
                    return int(first)
            if time.monotonic() > end:
                raise BrowserError(f"chromium opened no DevTools port in {deadline} s")
            time.sleep(0.05)

    @staticmethod
    def _page_websocket(port: int) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        for target in targets:
            if target.get("type") == "page":
                return str(target["webSocketDebuggerUrl"])
        raise BrowserError(f"no page among chromium's targets: {targets}")

    def log(self) -> str:
        self._log.flush()
        return (Path(self._profile.name) / "chromium.log").read_text(errors="replace")[-2000:]

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One command; events that arrive before its answer are kept in `events`."""
        ident = next(self._ids)
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") != ident:
                if "method" in message:
                    self.events.append(message)
                continue
            if "error" in message:
                raise BrowserError(f"{method}: {message['error']}")
            result: dict[str, Any] = message.get("result", {})
            return result

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, deadline: float = 30) -> None:
        """Navigate, and return once the new document has replaced the old one (so nothing
        read afterwards comes from the page before)."""
        self.evaluate("window.__gastownLeft = true")
        self.events.clear()
        result = self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"{url}: {result['errorText']}")
        self.wait_for(
            lambda b: True if b.evaluate("window.__gastownLeft !== true") else None,
            deadline,
            f"new document for {url}",
        )

    def text(self) -> str:
        """What a reader sees: the rendered text of the page and of its same-origin frames."""
        return str(
            self.evaluate(
                """(() => {
                    const parts = [document.body ? document.body.innerText : ""];
                    for (const f of document.querySelectorAll("iframe")) {
                        try { parts.push(f.contentDocument.body.innerText); } catch (e) {}
                    }
                    return parts.join("\\n");
                })()"""
            )
        )

    def wait_for(self, probe: Callable[[Chromium], T | None], deadline: float, what: str) -> T:
        """Poll probe(self) until it returns something other than None, or fail saying `what`
        with the page's last text (polled, not slept: the UI renders when its calls return)."""
        end = time.monotonic() + deadline
        while True:
            found = probe(self)
            if found is not None:
                return found
            if time.monotonic() > end:
                raise BrowserError(
                    f"after {deadline} s the page shows no {what}; its text:\n"
                    f"{self.text()[:3000]}\nwhat it did since it was opened:\n{self.story()}"
                )
            time.sleep(0.2)

    def story(self) -> str:
        """The page's network requests and their answers, failed loads, console messages and
        uncaught exceptions since the last `open()`: what a person would read in DevTools."""
        lines = []
        for event in self.events:
            method, p = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                lines.append(
                    f"request {p['requestId']} {p['request']['method']} {p['request']['url']}"
                )
            elif method == "Network.responseReceived":
                lines.append(
                    f"response {p['requestId']} {p['response']['status']} {p['response']['url']}"
                )
            elif method == "Network.loadingFailed":
                why = p.get("blockedReason") or p.get("corsErrorStatus") or ""
                lines.append(f"failed {p['requestId']} {p.get('errorText')} {why}")
            elif method == "Runtime.consoleAPICalled":
                args = " ".join(_shown(a) for a in p["args"])
                lines.append(f"console.{p['type']} {args}")
            elif method == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                lines.append(
                    f"exception {d.get('exception', {}).get('description', d.get('text'))}"
                )
            elif method == "Log.entryAdded":
                e = p["entry"]
                lines.append(f"log.{e['level']} {e.get('url', '')} {e['text']}")
        return "\n".join(line[:500] for line in lines)

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (not only the window), for a person to look at."""
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self) -> None:
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        self._profile.cleanup()
