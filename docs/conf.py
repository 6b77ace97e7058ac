"""Sphinx configuration for the dropspec specification site.

Build from the repository root with::

    sphinx-build -W --keep-going -b html docs docs/_build/html

The clause pages, the check list, the conventions table and the matrix are rendered from
dropspec's registries by ``_ext/dropspec_docs.py``; the figures are redrawn from the NumPy
reference by ``figures.py`` at the start of every build. Math is rendered to SVG by
matplotlib (``_ext/mathsvg.py``), so the pages load no script from the network.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the dropspec package, also when not pip-installed

import dropspec  # noqa: E402

project = "dropspec"
author = "the dropspec authors"
copyright = "the dropspec authors, Apache-2.0"
version = release = dropspec.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.viewcode",
    "mathsvg",
    "dropspec_docs",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "_data", "README.md", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
html_math_renderer = "mathsvg"
nitpicky = True  # a broken cross-reference is a warning, and -W makes it an error

# furo: an on-page contents panel, a navigation drawer on narrow screens, light and dark.
html_theme = "furo"
html_static_path = ["_static"]
html_css_files = ["dropspec.css"]
html_js_files = ["dropspec.js"]  # marks wide boxes that scroll, for their cue
html_title = f"dropspec {release}"
html_theme_options = {
    "sidebar_hide_name": False,
    "navigation_with_keys": True,
    "top_of_page_buttons": [],
}
html_last_updated_fmt = None
html_show_sourcelink = False
html_favicon = "_static/favicon.svg"
