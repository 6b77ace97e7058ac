"""The docs site: it builds with warnings as errors, every clause has its anchor, and the
pages open in headless Chromium without console errors.

The build is slow-ish (about 15 s), so it runs once per session. Set ``DROPSPEC_DOCS_HTML`` to
an already built site (``.ci/run`` does, after its own ``sphinx-build -W`` step) to test that
instead. The browser test needs Playwright's Python package and a Chromium (Debian's
``chromium``, found on PATH or at ``DROPSPEC_CHROMIUM``); without them it skips, unless
``DROPSPEC_REQUIRE_BROWSER=1`` (set by CI) turns the skip into a failure. Screenshots go to
``artifacts/docs/``.
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

import pytest

from dropspec.spec import CLAUSES, OPS

# The whole page builds the site (or reads CI's build) and drives a browser: the slow tier.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ARTIFACTS = ROOT / "artifacts" / "docs"
PAGES = [
    "index.html",
    "dropout-vs-dropconnect.html",
    "matrix.html",
    "math.html",
    "conventions.html",
    "guide.html",
    "statistics.html",
    "checks.html",
    "contributing.html",
    *[f"spec/{op}.html" for op in OPS],
]
SCREENSHOTS = {
    "dropout-vs-dropconnect.html": "dropout-vs-dropconnect.png",
    "matrix.html": "matrix.png",
}


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
    for name in ("network_5_4_3.png", "mask_matrices.png", "moment_matching.png"):
        assert name in page
    images = list((html_dir / "_images").glob("*.png"))
    assert len(images) >= 6, images


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


def test_pages_render_in_chromium(served: str) -> None:
    sync_playwright, chromium = browser_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as pw:  # type: ignore[operator]
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=[
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
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            # A request cut off by the next navigation (ERR_ABORTED) is not a broken page.
            page.on(
                "requestfailed",
                lambda r: (
                    problems.append(f"request failed ({r.failure}): {r.url}")
                    if "ERR_ABORTED" not in (r.failure or "")
                    else None
                ),
            )
            page.on(
                "response",
                lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
            )
            for name in PAGES:
                before = len(problems)
                page.goto(f"{served}/{name}", wait_until="networkidle")
                broken = page.evaluate(
                    "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                    ".map(i => i.src)"
                )
                problems += [f"broken image on {name}: {src}" for src in broken]
                problems[before:] = [f"{name}: {p}" for p in problems[before:]]
                if name in SCREENSHOTS:
                    page.screenshot(path=str(ARTIFACTS / SCREENSHOTS[name]), full_page=True)
            # An anchor link lands on its clause.
            page.goto(f"{served}/spec/dropconnect.html#DROPCONNECT-PER-EXAMPLE")
            assert page.locator("#DROPCONNECT-PER-EXAMPLE").is_visible()
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
    for shot in SCREENSHOTS.values():
        assert (ARTIFACTS / shot).stat().st_size > 10_000


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
