"""The numbers of docs/dropout-vs-dropconnect.md are right, and its snippet prints them.

The page's 2 x 2 example (x = (1, 2), W rows (1, 1) and (2, 1), b = (1, 1), rate 1/2,
inverted scaling) is checked three ways against one computation here, which enumerates every
mask of every scheme with its probability:

- the page's tables (the four dropout masks, and the moments of each scheme) hold its numbers;
- the page's snippet, run as written, prints exactly the output the page shows under it, and
  that output's numbers are the enumeration's;
- the reference's samplers compute, for the masks they return, the layers the enumeration
  assumes (inverted scaling, and a masked bias scaled with the weights), so the enumeration is
  of the reference's ops and not of some other reading of them.

The activation classes of the page's "equivalent exactly when" table are checked too.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from dropspec.reference import dropconnect, dropout

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "dropout-vs-dropconnect.md"
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)
SNIPPET_HEAD = "# dropout_vs_dropconnect.py"

X = np.array([1.0, 2.0])
W = np.array([[1.0, 1.0], [2.0, 1.0]])
B = np.array([1.0, 1.0])
RATE = 0.5
KEEP = 1.0 - RATE
S = 1.0 / KEEP  # inverted scaling

Layer = Callable[..., np.ndarray]


def input_dropout(m: np.ndarray) -> np.ndarray:
    return W @ (S * m * X) + B


def dropconnect_unmasked(m: np.ndarray) -> np.ndarray:
    return S * (m * W) @ X + B


def dropconnect_masked(m: np.ndarray, mb: np.ndarray) -> np.ndarray:
    return S * ((m * W) @ X + mb * B)


def unit_dropout(m: np.ndarray) -> np.ndarray:
    return S * m * (W @ X + B)


#: Each scheme of the page's moment table: its layer and the shapes of the masks it draws.
SCHEMES: dict[str, tuple[Layer, tuple[tuple[int, ...], ...]]] = {
    "input dropout": (input_dropout, ((2,),)),
    "DropConnect, bias unmasked": (dropconnect_unmasked, ((2, 2),)),
    "DropConnect, bias masked": (dropconnect_masked, ((2, 2), (2,))),
    "unit dropout": (unit_dropout, ((2,),)),
}


def masks(shapes: tuple[tuple[int, ...], ...]) -> Iterator[tuple[float, list[np.ndarray]]]:
    """Every joint value of masks of these shapes, with its probability."""
    sizes = [int(np.prod(s)) for s in shapes]
    for bits in itertools.product((0.0, 1.0), repeat=sum(sizes)):
        flat = np.array(bits)
        kept = int(flat.sum())
        p = KEEP**kept * RATE ** (len(flat) - kept)
        parts, lo = [], 0
        for shape, n in zip(shapes, sizes, strict=True):
            parts.append(flat[lo : lo + n].reshape(shape))
            lo += n
        yield p, parts


def exact_moments(name: str) -> list[float]:
    """E[u1], E[u2], Var[u1], Var[u2], Cov[u1, u2] of a scheme, over all its masks."""
    layer, shapes = SCHEMES[name]
    probs, outs = zip(*((p, layer(*ms)) for p, ms in masks(shapes)), strict=True)
    p, u = np.array(probs), np.array(outs)
    assert p.sum() == pytest.approx(1.0)
    mean = p @ u
    centred = u - mean
    cov = (p[:, None, None] * centred[:, :, None] * centred[:, None, :]).sum(axis=0)
    return [*mean, cov[0, 0], cov[1, 1], cov[0, 1]]


def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def snippet_and_output() -> tuple[str, str]:
    blocks = FENCE.findall(page())
    i = next(i for i, (lang, body) in enumerate(blocks) if body.startswith(SNIPPET_HEAD))
    assert blocks[i][0] == "python" and blocks[i + 1][0] == "text", "snippet, then its output"
    return blocks[i][1], blocks[i + 1][1]


def table_rows(first_cells: set[str]) -> dict[str, list[float]]:
    """The numeric cells of the page's markdown table rows whose first cell is named."""
    rows = {}
    for line in page().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] in first_cells:
            assert cells[0] not in rows, f"two rows named {cells[0]!r}"
            rows[cells[0]] = [float(c) for c in cells[1:]]
    return rows


def output_rows(output: str) -> dict[str, list[float]]:
    """The snippet's printed rows: a name, then numbers."""
    rows = {}
    for line in output.splitlines():
        m = re.fullmatch(r"(\S.*?)((?:\s+-?\d+(?:\.\d+)?)+)", line)
        if m:
            rows[m.group(1)] = [float(v) for v in m.group(2).split()]
    return rows


def test_moment_table_is_the_exact_enumeration() -> None:
    rows = table_rows(set(SCHEMES))
    assert set(rows) == set(SCHEMES), "the page's moment table lists every scheme once"
    for name, stated in rows.items():
        assert stated == pytest.approx(exact_moments(name), abs=1e-12), name
    # The point of the example: only the covariance tells input dropout from DropConnect.
    assert rows["input dropout"][:4] == rows["DropConnect, bias unmasked"][:4]
    assert rows["input dropout"][4] != rows["DropConnect, bias unmasked"][4]


def test_dropout_mask_table_lists_every_mask() -> None:
    names = {f"({a}, {b})" for a in (0, 1) for b in (0, 1)}
    rows = table_rows(names)
    assert set(rows) == names
    for name, stated in rows.items():
        m = np.array([float(v) for v in name.strip("()").split(",")])
        assert stated == input_dropout(m).tolist(), name


def test_snippet_prints_the_output_the_page_shows(tmp_path: Path) -> None:
    code, shown = snippet_and_output()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == shown


def test_snippet_output_holds_the_exact_numbers() -> None:
    _, shown = snippet_and_output()
    rows = output_rows(shown)
    for name in SCHEMES:
        assert rows[name] == pytest.approx(exact_moments(name), abs=1e-12), name
    keep, u = np.array(rows["dropout: mask, u"][:2]), rows["dropout: mask, u"][2:]
    assert u == input_dropout(keep).tolist()
    m = np.array(rows["DropConnect: mask"]).reshape(2, 2)
    mb, u = np.array(rows["DropConnect: bias mask, u"][:2]), rows["DropConnect: bias mask, u"][2:]
    assert u == dropconnect_masked(m, mb).tolist()
    # The page's DropConnect mask is no dropout mask: neither its rows nor its columns tied.
    assert (m != m[:, :1]).any() and (m != m[:1, :]).any()


@pytest.mark.parametrize("seed", range(32))
def test_reference_computes_the_enumerated_layers(seed: int) -> None:
    x = X[None, :]
    kept, keep = dropout(x, RATE, seed=seed, return_mask=True)
    assert (kept @ W.T + B)[0].tolist() == input_dropout(keep[0].astype(float)).tolist()
    u, mask = dropconnect(x, W, B, RATE, seed=seed, return_mask=True)
    m, mb = mask["weight"][0].astype(float), mask["bias"][0].astype(float)
    assert u[0].tolist() == dropconnect_masked(m, mb).tolist()
    u, mask = dropconnect(x, W, B, RATE, seed=seed, mask_bias=False, return_mask=True)
    assert u[0].tolist() == dropconnect_unmasked(mask["weight"][0].astype(float)).tolist()


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda u: u,
    "ReLU": lambda u: np.maximum(u, 0.0),
    "leaky ReLU": lambda u: np.where(u > 0, u, 0.01 * u),
    "tanh": np.tanh,
    "ELU": lambda u: np.where(u > 0, u, np.expm1(np.minimum(u, 0.0))),
    "GELU": lambda u: u * special.ndtr(u),
    "sigmoid": special.expit,
}
POSITIVELY_HOMOGENEOUS = {"identity", "ReLU", "leaky ReLU"}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_which_activations_let_an_inverted_mask_through(name: str) -> None:
    """The page: with 0/1 masks a(0) = 0 suffices; with inverted scaling s = 1/q the
    activation must satisfy s·a(u) = a(s·u), which holds exactly for the positively
    homogeneous ones."""
    a = ACTIVATIONS[name]
    u = np.linspace(-3.0, 3.0, 61)
    assert (a(np.zeros(1))[0] == 0.0) == (name != "sigmoid")
    for keep in (0.9, 0.5, 0.2):
        s = 1.0 / keep
        through = np.allclose(s * a(u), a(s * u), rtol=1e-12, atol=1e-12)
        assert through == (name in POSITIVELY_HOMOGENEOUS), (name, keep)
    assert name in page()


def test_tanh_counterexample_as_stated() -> None:
    assert round(2 * np.tanh(1.0), 2) == 1.52 and round(np.tanh(2.0), 2) == 0.96
    assert r"$2\tanh 1 \approx 1.52$, while $\tanh 2 \approx 0.96$" in page()
