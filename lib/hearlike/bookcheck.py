"""``make book-check``: open every page of the built book in headless Chromium and fail on what a reader would see.

Checks, per page of ``_build/html``:

- static (no browser): every local link and ``#anchor`` resolves, every local image decodes (PIL), no
  bibliography entry is left uncited and no citation lacks an entry;
- in headless Chromium (Debian's ``chromium`` package, installed with apt-get when missing and
  possible), at 1280 px and 400 px wide: the page loads, every ``<img>`` decoded
  (``naturalWidth > 0``), no raw Markdown table text is visible, no JavaScript error or failed local
  resource other than the known upstream ones in :data:`KNOWN_JS_ERRORS`; a full-page screenshot of
  each page goes to ``_build/screenshots/<page>-<width>.png``.

Where Chromium cannot be had, the browser part is skipped with the reason printed; the static checks
still run. Run it as ``python -m hearlike.bookcheck`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

__all__ = ["KNOWN_JS_ERRORS", "WIDTHS", "raw_table_lines", "citation_problems", "static_problems",
           "find_chromium", "browser_problems", "main"]

#: page widths (CSS px) every page is opened at
WIDTHS = (1280, 400)
#: JavaScript console errors of upstream code that do not affect the page (regular expressions)
KNOWN_JS_ERRORS = (
    # sphinx-thebe 0.3 (through jupyter-book 1.x) inlines `const THEBE_JS_URL = ...` twice in every page's
    # <head>; the second declaration throws, the first has set the value and thebe still works
    r"Identifier 'THEBE_JS_URL' has already been declared",
    # pydata-sphinx-theme logs this with console.error when no light/dark mode was stored yet
    # (a fresh browser profile) and then falls back to "auto", as intended
    r"Got invalid theme mode: \. Resetting to auto\.",
    # remote resources (MathJax from cdn.jsdelivr.net) cannot load where the check runs offline, as in
    # CI; a local file that fails to load (net::ERR_FILE_NOT_FOUND) still counts
    r"Failed to load resource: net::ERR_(NAME_NOT_RESOLVED|INTERNET_DISCONNECTED|CONNECTION_REFUSED) https?://",
)
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
_BIB_KEY = re.compile(r"^@\w+\{([^,\s]+),", re.M)


def raw_table_lines(text: str) -> list[str]:
    """Lines of visible page text that are a Markdown pipe table (a ``| a | b |`` row above a ``|---|`` rule)."""
    lines = text.splitlines()
    return [lines[k] for k in range(len(lines) - 1) if _TABLE_ROW.match(lines[k]) and _TABLE_RULE.match(lines[k + 1])]


def citation_problems(bib: Path, sources: list[Path]) -> list[str]:
    """Bibliography entries no source cites, and cited keys the bibliography lacks."""
    keys = set(_BIB_KEY.findall(Path(bib).read_text(encoding="utf-8")))
    cited: set[str] = set()
    for source in sources:
        for group in _CITE.findall(Path(source).read_text(encoding="utf-8")):
            cited.update(key.strip() for key in group.split(","))
    problems = [f"{bib}: entry {key!r} is cited nowhere; cite it in the text ({{cite:p}}`{key}`) or delete it"
                for key in sorted(keys - cited)]
    problems += [f"citation {key!r} has no entry in {bib}; add it" for key in sorted(cited - keys)]
    return problems


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name"):
            if attrs.get(name):
                self.ids.add(attrs[name])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])


def _parse(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def _decodes(path: Path) -> str:
    """'' if the image decodes, else why not."""
    if path.suffix.lower() == ".svg":
        import xml.etree.ElementTree as ET

        try:
            ET.parse(path)
        except ET.ParseError as err:
            return f"SVG does not parse: {err}"
        return ""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except Exception as err:  # noqa: BLE001 - any decoder failure is the finding
        return f"does not decode: {err}"
    return ""


def pages(html_dir: Path) -> list[Path]:
    """The book's pages (``*.html`` except Sphinx's search/genindex and ``_static``/``_sources``)."""
    skip = {"search.html", "genindex.html", "py-modindex.html"}
    return sorted(p for p in Path(html_dir).rglob("*.html")
                  if p.name not in skip and not any(part.startswith("_") for part in p.relative_to(html_dir).parts))


def static_problems(html_dir: Path) -> list[str]:
    """Broken local links, missing ``#anchors`` and images that do not decode, over every page."""
    html_dir = Path(html_dir)
    parsed = {page.resolve(): _parse(page) for page in pages(html_dir)}
    problems = []
    for page, parser in parsed.items():
        name = page.relative_to(html_dir.resolve())
        for href in parser.links:
            parts = urlsplit(href)
            if parts.scheme or href.startswith("//") or href.startswith("mailto:"):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.exists():
                problems.append(f"{name}: link {href!r} points to a missing file")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{name}: link {href!r}: no anchor #{parts.fragment} in {target.name}")
        for src in parser.images:
            parts = urlsplit(src)
            if parts.scheme:
                if parts.scheme != "data":
                    problems.append(f"{name}: image {src[:60]!r} is remote (the book must be self-contained)")
                continue
            image = (page.parent / unquote(parts.path)).resolve()
            why = _decodes(image) if image.exists() else "is missing"
            if why:
                problems.append(f"{name}: image {src!r} {why}")
    return problems


def find_chromium(*, install: bool = True) -> tuple[str | None, str]:
    """Path of a Chromium binary and '' , or None and why not (tries ``apt-get install chromium`` as root)."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path, ""
    if not install:
        return None, "no chromium on PATH"
    if not shutil.which("apt-get"):
        return None, "no chromium on PATH and no apt-get to install Debian's chromium package"
    import os

    if os.geteuid() != 0:
        return None, "no chromium on PATH; installing Debian's chromium package needs root (apt-get install chromium)"
    logger.info("installing Debian's chromium package")
    run = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True,
                         env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if run.returncode != 0:
        return None, f"apt-get install chromium failed: {run.stderr.strip().splitlines()[-1:]}"
    path = shutil.which("chromium")
    return (path, "") if path else (None, "apt-get installed chromium but it is not on PATH")


@dataclass
class _Tab:
    """One Chrome DevTools Protocol connection to a page target."""

    socket: object
    next_id: int = 0
    events: list = field(default_factory=list)

    def call(self, method: str, timeout_s: float = 60.0, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)
        raise TimeoutError(f"{method} took over {timeout_s} s")

    def wait_for(self, event: str, timeout_s: float = 60.0) -> bool:
        if any(e.get("method") == event for e in self.events):
            return True
        deadline = time.monotonic() + timeout_s
        self.socket.settimeout(1.0)
        try:
            while time.monotonic() < deadline:
                try:
                    message = json.loads(self.socket.recv())
                except Exception:  # noqa: BLE001 - websocket timeout: poll again
                    continue
                self.events.append(message)
                if message.get("method") == event:
                    return True
        finally:
            self.socket.settimeout(None)
        return False


_PAGE_STATE_JS = """JSON.stringify({
  broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  text: (() => { const b = document.querySelector('main') || document.body;  // code blocks may hold pipes
                 const code = Array.from(b.querySelectorAll('pre, code, .highlight'));
                 const shown = code.map(e => e.style.display); code.forEach(e => e.style.display = 'none');
                 const text = b.innerText; code.forEach((e, k) => e.style.display = shown[k]); return text; })(),
  h1: (document.querySelector('h1') || {}).innerText || ''
})"""


def _errors(events: list) -> list[str]:
    found = []
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            found.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            found.append(f"{entry.get('text', '')} {entry.get('url', '')}".strip())
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            found.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
    return [f for f in found if not any(re.search(known, f) for known in KNOWN_JS_ERRORS)]


def _open_page(tab: _Tab, url: str, width: int, shot: Path) -> list[str]:
    tab.events.clear()
    tab.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=width < 600)
    result = tab.call("Page.navigate", url=url)
    if result.get("errorText"):
        return [f"does not load: {result['errorText']}"]
    if not tab.wait_for("Page.loadEventFired", timeout_s=60):
        return ["does not finish loading within 60 s"]
    time.sleep(0.5)  # MathJax and the theme's scripts run after load
    state = json.loads(tab.call("Runtime.evaluate", expression=_PAGE_STATE_JS, returnByValue=True)["result"]["value"])
    problems = [f"image does not decode: {src}" for src in state["broken"]]
    problems += [f"raw Markdown table text: {line.strip()[:80]!r}" for line in raw_table_lines(state["text"])]
    if not state["h1"].strip():
        problems.append("no title (h1) rendered")
    height = int(tab.call("Page.getLayoutMetrics")["cssContentSize"]["height"])
    tab.call("Emulation.setDeviceMetricsOverride", width=width, height=min(max(height, 600), 16000),
             deviceScaleFactor=1, mobile=width < 600)
    png = tab.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
    shot.write_bytes(base64.b64decode(png))
    problems += [f"JavaScript error: {e[:200]}" for e in _errors(tab.events)]
    return problems


def browser_problems(html_dir: Path, screenshots: Path, chromium: str, *, widths=WIDTHS) -> list[str]:
    """Open every page at every width in headless ``chromium``; problems found, screenshots written."""
    import websocket

    screenshots.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="hearlike-chromium-"))
    process = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                "--remote-debugging-port=0", f"--user-data-dir={profile}", "--no-first-run",
                                "--allow-file-access-from-files", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.1)
        else:
            return [f"chromium did not start ({chromium})"]
        port = int(port_file.read_text().split()[0])
        request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
        target = json.loads(urllib.request.urlopen(request, timeout=30).read())
        tab = _Tab(websocket.create_connection(target["webSocketDebuggerUrl"], timeout=120, suppress_origin=True))
        for domain in ("Page", "Runtime", "Log"):
            tab.call(f"{domain}.enable")
        problems = []
        for page in pages(html_dir):
            name = page.relative_to(html_dir).with_suffix("").as_posix().replace("/", "_")
            for width in widths:
                found = _open_page(tab, page.resolve().as_uri(), width, screenshots / f"{name}-{width}.png")
                problems += [f"{page.relative_to(html_dir)} @ {width}px: {p}" for p in found]
                logger.info("%s @ %d px: %s", page.relative_to(html_dir), width, "ok" if not found else found)
        return problems
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(profile, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Run every check; print the problems; return 1 if any (0 otherwise)."""
    parser = argparse.ArgumentParser(prog="python -m hearlike.bookcheck", description=__doc__.splitlines()[0])
    parser.add_argument("--html", default="_build/html", type=Path, help="the built book (default _build/html)")
    parser.add_argument("--screenshots", default="_build/screenshots", type=Path)
    parser.add_argument("--bib", default="book/references.bib", type=Path)
    parser.add_argument("--sources", nargs="*", default=None, type=Path,
                        help="files whose {cite} roles count (default book/*.md notebooks/*.md)")
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install chromium when missing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (args.html / "index.html").is_file():
        print(f"book-check: {args.html / 'index.html'} is missing; build the book first (make book)")
        return 1
    sources = args.sources if args.sources is not None else sorted(Path("book").glob("*.md")) + sorted(
        Path("notebooks").glob("*.md"))
    problems = citation_problems(args.bib, sources) + static_problems(args.html)
    chromium, why = find_chromium(install=not args.no_install)
    if chromium:
        problems += browser_problems(args.html, args.screenshots, chromium)
    else:
        print(f"book-check: browser checks SKIPPED: {why}")
    for problem in problems:
        print(f"book-check: {problem}")
    n_pages = len(pages(args.html))
    print(f"book-check: {n_pages} pages, {len(problems)} problem(s)"
          + (f"; screenshots in {args.screenshots}" if chromium else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
