"""Render math to SVG with matplotlib's mathtext, so pages need no JavaScript and no network.

MathJax would be loaded from a CDN, which neither CI nor an offline reader can reach. mathtext
covers the TeX subset these pages use (fractions, sub/superscripts, Greek, \\mathbb,
\\mathcal, \\left/\\right). A display block may hold several lines separated by ``\\\\``;
``&`` alignment marks are dropped and each line is centred.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
from docutils import nodes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

FONT_SIZE = 12.5  # points; mathtext sizes the SVG in points, so this matches 16-17 px text


class MathError(Exception):
    pass


#: latex -> (SVG, depth): a formula used on several pages (or twice on one) is drawn once.
_DRAWN: dict[str, tuple[bytes, float]] = {}


def render(latex: str, outdir: Path) -> tuple[str, float]:
    """Write ``latex`` (without dollars) as an SVG under ``outdir``; (file name, depth in pt)."""
    key = hashlib.sha1(latex.encode()).hexdigest()[:16]
    fname = f"{key}.svg"
    if latex not in _DRAWN:
        _DRAWN[latex] = _draw(latex)
    svg, depth = _DRAWN[latex]
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / fname).write_bytes(svg)
    return fname, depth


def _draw(latex: str) -> tuple[bytes, float]:
    buf = io.BytesIO()
    with matplotlib.rc_context(
        {"mathtext.fontset": "cm", "svg.fonttype": "path", "svg.hashsalt": "dropspec"}
    ):
        # mathtext.math_to_image, but sized with the parser that drawing the text uses, so
        # that drawing finds the formula parsed (its cache) instead of parsing it again.
        prop = FontProperties(size=FONT_SIZE)
        try:
            width, height, depth, _, _ = text_to_path.mathtext_parser.parse(
                f"${latex}$", dpi=72, prop=prop
            )
        except Exception as exc:  # mathtext raises ValueError subclasses with a caret diagram
            raise MathError(str(exc).strip().splitlines()[-1]) from None
        fig = Figure(figsize=(width / 72.0, height / 72.0))
        fig.text(0, depth / height, f"${latex}$", fontproperties=prop)
        fig.savefig(buf, format="svg")
    return re.sub(rb"<dc:date>.*?</dc:date>", b"", buf.getvalue(), flags=re.S), float(depth)


def _lines(latex: str) -> list[str]:
    parts = re.split(r"\\\\", latex.replace("&", ""))
    return [" ".join(p.split()) for p in parts if p.strip()]


def size(latex: str) -> str:
    """The drawn formula's CSS width and height (pt), so a page's layout does not move when
    its formulas arrive (an anchor link would land short of its target)."""
    head = _DRAWN[latex][0][:1000].decode("utf-8", "replace")
    found = re.search(r'<svg[^>]*\bwidth="([\d.]+)pt" height="([\d.]+)pt"', head)
    return f"width: {found[1]}pt; height: {found[2]}pt; " if found else ""


def _img(self: Any, latex: str, css: str) -> str:
    fname, depth = render(latex, Path(self.builder.outdir) / "_images" / "math")
    src = f"{self.builder.imgpath}/math/{fname}"
    alt = html.escape(latex, quote=True)
    return (
        f'<img class="{css}" src="{src}" alt="{alt}" title="{alt}" '
        f'style="{size(latex)}vertical-align: -{depth:.2f}pt"/>'
    )


def visit_math(self: Any, node: nodes.math) -> None:
    latex = node.astext()
    try:
        self.body.append(_img(self, " ".join(latex.split()), "math"))
    except MathError as exc:
        logger.warning("cannot render inline math %r: %s", latex, exc, location=node)
        self.body.append(f'<code class="math">{self.encode(latex)}</code>')
    raise nodes.SkipNode


def visit_displaymath(self: Any, node: nodes.math_block) -> None:
    self.body.append(self.starttag(node, "div", CLASS="math"))
    if node.get("number"):
        self.body.append(f'<span class="eqno">({node["number"]})</span>')
    for line in _lines(node.astext()):
        try:
            self.body.append(f'<div class="math-line">{_img(self, line, "math-display")}</div>')
        except MathError as exc:
            logger.warning("cannot render display math %r: %s", line, exc, location=node)
            self.body.append(f'<pre class="math">{self.encode(line)}</pre>')
    self.body.append("</div>\n")
    raise nodes.SkipNode


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_html_math_renderer("mathsvg", (visit_math, None), (visit_displaymath, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
