"""The docs site: it builds with warnings as errors, every clause has its anchor, and every
page reads in headless Chromium at 1280 and 400 px.

The build takes about 20 s of CPU, so it runs once per session. Set ``DROPSPEC_DOCS_HTML`` to
an already built site (``.ci/run`` does, after its own ``sphinx-build -W`` step) to test that
instead. The browser test needs Playwright's Python package and a Chromium (Debian's
``chromium``, found on PATH or at ``DROPSPEC_CHROMIUM``); without them it skips, unless
``DROPSPEC_REQUIRE_BROWSER=1`` (set by CI) turns the skip into a failure. Screenshots of every
page at both widths go to ``artifacts/docs/`` (``$DROPSPEC_ARTIFACTS/docs/`` when set).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dropspec.spec import CLAUSES, OPS

# The whole page builds the site (or reads CI's build) and drives a browser: the slow tier.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="session")
def html_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prebuilt = os.environ.get("DROPSPEC_DOCS_HTML")
    if prebuilt:
        path = Path(prebuilt)
        assert (path / "index.html").is_file(), f"DROPSPEC_DOCS_HTML={prebuilt} holds no site"
        return path
    pytest.importorskip("sphinx", reason="the docs need sphinx (requirements/test.txt)")
    pytest.importorskip("myst_parser", reason="the docs need myst-parser")
    out = tmp_path_factory.mktemp("docs") / "html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(DOCS),
            str(out),
            "-d",
            str(out.parent / "doctrees"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_every_clause_has_its_anchor(html_dir: Path) -> None:
    for op in OPS.values():
        page = (html_dir / "spec" / f"{op.name}.html").read_text()
        ids = set(re.findall(r'\bid="([^"]+)"', page))
        for clause in op.clauses:
            assert clause.id in ids, f"{clause.id} has no anchor on spec/{op.name}.html"
            assert clause.anchor in ids, f"{clause.anchor} missing on spec/{op.name}.html"
    assert sum(len(op.clauses) for op in OPS.values()) == len(CLAUSES)


def test_clause_text_comes_from_the_registry(html_dir: Path) -> None:
    page = (html_dir / "spec" / "dropout.html").read_text()
    text = re.sub(r"<[^>]+>", "", page).replace("\n", " ")
    clause = CLAUSES["DROPOUT-RATE"]
    assert clause.text in text
    assert "MUST" in text and "statistical" in text


def test_figures_are_drawn(html_dir: Path) -> None:
    page = (html_dir / "dropout-vs-dropconnect.html").read_text()
    for name in ("network_5_4_3.svg", "mask_matrices.svg", "moment_matching.svg"):
        assert name in page
    images = list((html_dir / "_images").glob("*.svg"))
    assert len(images) >= 6, images


def test_proof_page_has_one_power_row_per_clause_and_test(html_dir: Path) -> None:
    """The proof page's power table is the checks' plans summed up: one row per statistical
    clause and kind of test it runs, each statistical clause there, none twice."""
    from dropspec.conformance.calibration import plans

    kinds = {(cid, leaf.test) for cid, leaves in plans().items() for leaf in leaves}
    page = (html_dir / "proof.html").read_text(encoding="utf-8")
    first = page[page.index("<tbody") : page.index("</tbody>")]
    rows = re.findall(r"<tr\b.*?</tr>", first, flags=re.S)
    assert len(rows) == len(kinds), (len(rows), len(kinds))
    named = {re.search(r'std-ref">([A-Z][A-Z0-9-]+)<', r)[1] for r in rows}  # type: ignore[index]
    assert named == {cid for cid, _ in kinds}


def test_contributor_page_lists_the_registries_files(html_dir: Path) -> None:
    """The contributor's page shows, for every op, framework and check plug the registries
    give (dropspec.conformance.layout), each file it takes; every file path the page names
    exists. tests/test_registries.py holds the package to the same layout."""
    from dropspec.conformance import layout

    page = (html_dir / "contributing.html").read_text()
    text = re.sub(r"<[^>]+>", "", page)
    tables = {"op": layout.op_plugs(), "framework": layout.framework_plugs()}
    tables["check"] = layout.check_plugs()
    assert set(tables["op"]) == set(OPS) and set(tables["check"]) == set(OPS)
    for kind, plugs in tables.items():
        for name, plug in plugs.items():
            assert f"{name}" in text, f"contributing.html has no {kind} row for {name}"
            for path in plug.files:
                assert path in text, f"contributing.html does not show {path} for {name}"
                assert (ROOT / path).is_file(), f"{path} ({kind} {name}) does not exist"
    source = (DOCS / "contributing.md").read_text()
    named = set(re.findall(r"`((?:dropspec|tests|docs)/[\w/.<>-]+)`", source))
    assert len(named) >= 10
    for path in named:
        if "<" not in path:
            assert (ROOT / path).exists(), f"docs/contributing.md names {path}, which is missing"


def test_matrix_page_never_invents_results(html_dir: Path) -> None:
    page = (html_dir / "matrix.html").read_text()
    if (DOCS / "_data" / "matrix.json").is_file():
        assert "Framework versions" in page
    else:
        assert "No report yet" in page and "dropspec check --all --twins --json" in page


# ------------------------------------------------------------------- browser ----


def find_chromium() -> str | None:
    explicit = os.environ.get("DROPSPEC_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_or_skip() -> tuple[object, str]:
    required = os.environ.get("DROPSPEC_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install -r requirements/docs.txt)"
        pytest.fail(reason) if required else pytest.skip(reason)
    chromium = find_chromium()
    if chromium is None:
        reason = "no Chromium found (apt-get install chromium, or set DROPSPEC_CHROMIUM)"
        pytest.fail(reason) if required else pytest.skip(reason)
    return sync_playwright, chromium


@pytest.fixture(scope="session")
def served(html_dir: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


#: Viewport widths every page is read at: a laptop and a phone.
WIDTHS = (1280, 400)
#: Text a reader must never see outside code: a placeholder, or a docstring's raw role.
PLACEHOLDER = re.compile(r"\(no docstring\)|:(?:func|class|meth|mod|attr|data|exc|obj|ref|doc):`")
#: Per page, in the browser: how wide the page scrolls, what sticks out past the window's
#: right edge outside any box that scrolls sideways (the theme clips it: unreadable), the
#: images that did not load, every link, and the text outside code.
PROBE = """() => {
  const width = window.innerWidth;
  // The theme's own frame (on a phone its content column scrolls sideways) is the page.
  const frame = up => up === document.body || up.matches('.page, .main, .content');
  const inScrollBox = el => {
    for (let up = el.parentElement; up && !frame(up); up = up.parentElement) {
      const overflow = getComputedStyle(up).overflowX;
      if ((overflow === 'auto' || overflow === 'scroll')
          && up.getBoundingClientRect().right <= width + 1) return true;
    }
    return false;
  };
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.children.length) continue;
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.left < width && box.right > width + 1 && !inScrollBox(el)) {
      const css = typeof el.className === 'string' ? el.className.split(' ')[0] : '';
      wide.push(el.tagName.toLowerCase() + (css ? '.' + css : '') + ' to '
        + Math.round(box.right) + ' px: ' + (el.textContent || el.src || '').slice(0, 40));
      if (wide.length >= 3) break;
    }
  }
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style').forEach(e => e.remove());
  return {
    scroll: Math.max(document.scrollingElement.scrollWidth,
      ...Array.from(document.querySelectorAll('.page, .main, .content'))
        .map(e => width + e.scrollWidth - e.clientWidth)),
    width: width,
    wide: wide,
    images: Array.from(document.images)
      .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
    uncued: Array.from(document.querySelectorAll('.table-wrapper, div.math, figure'))
      .filter(box => box.scrollWidth > box.clientWidth + 1
        && getComputedStyle(box, '::before').content.indexOf('scrolls sideways') < 0)
      .map(box => box.className + ': ' + box.textContent.trim().slice(0, 40)),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    text: body.textContent,
  };
}"""


def site_pages(html_dir: Path) -> list[str]:
    """Every page of the built site, the highlighted sources of the check modules included."""
    return sorted(
        p.relative_to(html_dir).as_posix()
        for p in html_dir.rglob("*.html")
        if not p.relative_to(html_dir).as_posix().startswith("_static/")
    )


def artifacts_dir() -> Path:
    base = os.environ.get("DROPSPEC_ARTIFACTS")
    return (Path(base) if base else ROOT / "artifacts") / "docs"


def broken_link(url: str, base: str, html_dir: Path, ids: dict[Path, set[str]]) -> bool:
    """Whether a link into the site names a file, or an anchor in a file, that does not exist."""
    if not url.startswith(base + "/"):
        return False  # another site: not this test's business
    path, _, anchor = url[len(base) + 1 :].partition("#")
    path = path.split("?")[0]
    target = html_dir / path
    if path == "" or path.endswith("/"):
        target = target / "index.html"
    if not target.is_file():
        return True
    if not anchor or target.suffix != ".html":
        return False
    if target not in ids:
        ids[target] = set(re.findall(r'\bid="([^"]+)"', target.read_text(encoding="utf-8")))
    return anchor not in ids[target]


def listen(page: Any, found: list[str]) -> None:
    """Note in ``found`` what the browser reports on ``page``: console errors and warnings,
    script errors, and responses of 400 and above."""
    page.on(
        "console",
        lambda m: (
            found.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda e: found.append(f"page error: {e}"))
    page.on(
        "response",
        lambda r: found.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )


def test_every_page_reads_at_every_width(served: str, html_dir: Path) -> None:
    """Every page, at 1280 and 400 px: no horizontal scroll of the page itself (nor of the
    theme's content column) and nothing cut off at its edge (a wide table or formula scrolls
    inside its own box), every image loads, every link into the site finds its file and
    anchor, no placeholder or raw role in the text, no console error, and every table,
    formula or figure that scrolls sideways says so. A screenshot of each
    page's first screen at each width goes to artifacts/docs/ (under ``DROPSPEC_ARTIFACTS``
    when set)."""
    sync_playwright, chromium = browser_or_skip()
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    shots = artifacts_dir()
    shots.mkdir(parents=True, exist_ok=True)
    pages = site_pages(html_dir)
    assert {"index.html", "proof.html", "checks.html", "spec/dropout.html"} <= set(pages)
    problems: dict[str, list[str]] = {}
    ids: dict[Path, set[str]] = {}
    current: list[str] = []  # what the page being read shows
    with sync_playwright() as pw:  # type: ignore[operator]
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 900})
                listen(page, current)
                for name in pages:
                    current.clear()
                    page.goto(f"{served}/{name}", wait_until="load")
                    seen = page.evaluate(PROBE)
                    if seen["scroll"] > seen["width"]:
                        current.append(
                            f"page is {seen['scroll']} px wide in a {seen['width']} px window"
                        )
                    current += [f"cut off at the window's edge: {w}" for w in seen["wide"]]
                    current += [f"scrolls sideways with no cue: {u}" for u in seen["uncued"]]
                    current += [f"image did not load: {src}" for src in seen["images"]]
                    current += [
                        f"broken link: {url}"
                        for url in sorted(set(seen["links"]))
                        if broken_link(url, served, html_dir, ids)
                    ]
                    current += [f"shows {m!r}" for m in set(PLACEHOLDER.findall(seen["text"]))]
                    if current:
                        problems.setdefault(name, []).extend(f"{width} px: {p}" for p in current)
                    shot = shots / f"{name.removesuffix('.html').replace('/', '__')}-{width}.png"
                    page.screenshot(path=str(shot))
                page.close()
            # An anchor link lands on its clause, on a phone too (the theme scrolls smoothly).
            page = browser.new_page(viewport={"width": WIDTHS[-1], "height": 900})
            page.goto(f"{served}/spec/dropconnect.html#DROPCONNECT-PER-EXAMPLE")
            try:
                page.wait_for_function(
                    "() => { const top = document.getElementById('DROPCONNECT-PER-EXAMPLE')"
                    ".getBoundingClientRect().top; return top >= 0 && top < innerHeight; }",
                    timeout=10_000,
                )
            except PlaywrightTimeout:
                problems.setdefault("spec/dropconnect.html", []).append(
                    "#DROPCONNECT-PER-EXAMPLE: the link does not bring its clause into view"
                )
        finally:
            browser.close()
    report = [f"{name}:\n  " + "\n  ".join(found) for name, found in problems.items()]
    assert not problems, f"{len(problems)} of {len(pages)} pages:\n" + "\n".join(report)


def test_test_vectors_are_published_and_shown(html_dir: Path) -> None:
    """The site carries one vector file per op, as the generator writes them, linked from each
    op page; a non-statistical clause shows its worked example, a statistical one its plan."""
    from dropspec.reference import vectors

    for op in OPS.values():
        published = json.loads((html_dir / "vectors" / f"{op.name}.json").read_text())
        assert published == json.loads(json.dumps(vectors.op_vectors(op)))
        page = (html_dir / "spec" / f"{op.name}.html").read_text(encoding="utf-8")
        assert f'href="../vectors/{op.name}.json"' in page
    page = (html_dir / "spec" / "dropout.html").read_text(encoding="utf-8")
    values = page[page.index('id="dropout-values"') : page.index('id="dropout-rate"')]
    assert "Worked example" in values and "0x3f8e" in values  # bfloat16 1.109375
    unbiased = page[page.index('id="dropout-unbiased"') : page.index('id="dropout-variance"')]
    assert "Tested by" in unbiased and "power 0.999" in unbiased
