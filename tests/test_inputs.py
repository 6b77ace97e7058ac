"""The input design (dropspec/conformance/inputs.py): the core every run checks, the part a
run's seed draws, the cost model's bounds, memory layouts as they reach a target, the docs'
coverage table, and wrong implementations that only the design's new dimensions expose."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dropspec.conformance.checks  # noqa: F401  (registers the checks)
from dropspec.adapters._backend import NUMPY, strided_copy
from dropspec.conformance import Config, inputs, run_target
from dropspec.conformance.context import CHECKS
from dropspec.dtypes import as_dtype
from dropspec.reference import dropout as reference_dropout
from dropspec.spec import CLAUSES
from dropspec.target import Target, make_target

ROOT = Path(__file__).resolve().parent.parent
FREE = inputs.Allowed()  # a target of any rank, no shared axes


# ---------------------------------------------------------------- sampling ----


def test_the_core_is_in_every_run_whatever_the_seed() -> None:
    shapes = [c.shape for c in inputs.plan("check_values", FREE, "numpy", "any", 1).core]
    for seed in (0, 7, 2**40):
        p = inputs.plan("check_values", FREE, "numpy", "any", seed)
        assert [c.shape for c in p.core] == shapes
    assert set(inputs.CORE_SHAPES) <= set(shapes)
    assert {len(s) for s in shapes} == set(inputs.RANKS)
    assert (0, 7) in shapes and (4, 9) in shapes  # an empty batch; (batch, features >= 6)


def test_the_core_visits_every_layout_and_value_class() -> None:
    p = inputs.plan("check_values", FREE, "numpy", "any", 3)
    assert {c.layout for c in p.core} == set(inputs.LAYOUT_NAMES)
    assert {c.values for c in p.core} == set(inputs.VALUE_NAMES)
    for c in p.core:  # each layout is given to a shape where it differs from C order
        assert len(c.shape) >= inputs.layout(c.layout).min_rank


def test_the_drawn_part_follows_the_seed_and_is_reproducible() -> None:
    def pool(seed: int) -> tuple[tuple[int, ...], ...]:
        return inputs.plan("check_values", FREE, "numpy", "any", seed).pool

    assert pool(11) == pool(11)
    pools = {pool(seed) for seed in range(8)}
    assert len(pools) == 8
    drawn = {s for seed in range(8) for s in pool(seed)}
    assert {len(s) for s in drawn} >= {1, 2, 3, 4, 5, 6}
    assert {inputs.size_class(s) for s in drawn} >= {"tiny", "small", "medium", "large"}
    assert all(n in inputs.AXIS_LENGTHS or n == inputs.LONG_AXIS for s in drawn for n in s)


def test_a_declared_rank_and_shared_axes_narrow_the_space() -> None:
    for allowed in (inputs.Allowed(rank=4), inputs.Allowed(min_rank=2, min_side=2)):
        p = inputs.plan("check_shared_constant", allowed, "numpy", "any", 5)
        for shape in [c.shape for c in p.core] + list(p.pool):
            assert len(shape) in allowed.ranks()
            assert min(shape) >= allowed.min_side and 0 not in shape


def test_the_cost_model_bounds_compiled_frameworks_and_says_what_it_skipped() -> None:
    eager = inputs.plan("check_values", FREE, "numpy", "any", 9, dtypes=4)
    for fw in ("jax", "tensorflow"):
        p = inputs.plan("check_values", FREE, fw, "dense", 9, dtypes=4)
        shapes = {c.shape for c in p.core} | set(p.pool)
        assert len({c.shape for c in p.core}) <= inputs.COMPILED.core
        assert len(p.pool) <= inputs.COMPILED.pool
        assert len(shapes) < len({c.shape for c in eager.core} | set(eager.pool)) / 2
        assert all(math.prod(s) <= inputs.COMPILED.max_elements for s in shapes)
        assert p.layouts == ("C",)
        assert any("layouts" in why and "dense" in why for why in p.skipped)
        assert any("core shapes" in why for why in p.skipped)
        # More values per shape: the value classes are all still there.
        assert {c.values for c in p.core} | set(p.values) == set(inputs.VALUE_NAMES)
    assert eager.skipped == ()
    torch = inputs.plan("check_values", FREE, "torch", "non-negative", 9)
    assert set(torch.layouts) == set(inputs.LAYOUT_NAMES) - {"reversed", "read-only"}
    assert len(torch.skipped) == 1 and "reversed" in torch.skipped[0]


def test_every_design_names_a_registered_check() -> None:
    names = {fn.__name__ for fn in CHECKS.values()}
    assert set(inputs.DESIGNS) <= names
    for cid, clause in CLAUSES.items():
        if clause.kind.value in ("exact", "structural") and clause.when.get("rate_one") is None:
            assert CHECKS[cid].__name__ in inputs.DESIGNS, cid
    for d in inputs.DESIGNS.values():
        assert set(d.values) <= set(inputs.VALUE_NAMES)
        assert d.values or d.own


# ---------------------------------------------------------------- values and layouts ----


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_value_classes_hold_what_they_say(dtype: str) -> None:
    info = np.finfo(np.float32 if dtype == "bfloat16" else as_dtype(dtype))
    shape = (64, 33)

    def get(kind: str) -> np.ndarray[Any, Any]:
        return inputs.values(5, shape, dtype, kind).astype(np.float64)

    assert np.all((np.abs(get("ordinary")) >= 0.24) & (np.abs(get("ordinary")) <= 4.1))
    zeros = get("signed-zeros")
    assert np.any((zeros == 0) & np.signbit(zeros)) and np.any((zeros == 0) & ~np.signbit(zeros))
    sub = get("subnormal")
    tiny = float(inputs._smallest_normal(dtype))
    assert np.any((sub != 0) & (np.abs(sub) < tiny))
    assert np.any(np.abs(get("largest")) == inputs._largest(dtype))
    mixed = np.abs(get("mixed"))
    assert mixed.max() / mixed.min() > 1e8 and np.all(np.isfinite(mixed))
    assert np.any(np.isposinf(get("inf"))) and np.any(np.isneginf(get("inf")))
    assert np.any(np.isnan(get("nan")))
    assert info.max > 0


@pytest.mark.parametrize("name", inputs.LAYOUT_NAMES)
def test_layouts_keep_values_and_reach_numpy_targets_strided(name: str) -> None:
    x = inputs.values(1, (3, 4, 5), "float32")
    v = inputs.lay_out(x, name)
    if name != "broadcast":
        assert np.array_equal(v, x)
    handed = NUMPY.asarray(v)  # what a NumPy target receives
    assert handed.strides == v.strides and np.array_equal(handed, v)
    assert handed.flags.writeable == v.flags.writeable
    assert not np.shares_memory(handed, v)
    expect_c = name in ("C", "read-only")
    assert handed.flags.c_contiguous == expect_c


def test_a_strided_copy_fills_the_gaps_with_nan() -> None:
    base = np.arange(12.0).reshape(3, 4)[:, ::2]
    out = strided_copy(base)
    assert np.array_equal(out, base) and out.strides == base.strides
    assert np.isnan(np.lib.stride_tricks.as_strided(out, (6,), (8,))[1])


def test_torch_receives_strided_tensors() -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    from dropspec.adapters.fw_torch import BACKEND

    x = inputs.values(2, (2, 3, 5), "bfloat16")
    for name in ("F", "transposed", "stepped", "broadcast"):
        v = inputs.lay_out(x, name)
        t = BACKEND.asarray(v)
        assert not t.is_contiguous()
        assert tuple(t.stride()) == tuple(s // v.itemsize for s in v.strides)
        assert np.array_equal(BACKEND.to_numpy(t), v)


# ---------------------------------------------------------------- the docs ----


def test_the_docs_coverage_table_is_rendered_from_the_design() -> None:
    page = (ROOT / "docs" / "coverage.md").read_text()
    for kind in ("dimensions", "frameworks", "clauses"):
        assert f"{{dropspec-coverage}} {kind}" in page
    assert "coverage" in (ROOT / "docs" / "index.md").read_text()
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        pytest.importorskip("sphinx")
        import dropspec_docs
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))
    rows = {r.clause: r for r in dropspec_docs.coverage_rows()}
    drawn = [
        cid
        for cid, c in CLAUSES.items()
        if c.kind.value in ("exact", "structural") and cid in CHECKS
    ]
    assert list(rows) == drawn
    from dropspec.conformance.checks._geometry import Geometry
    from dropspec.conformance.context import check_seed
    from dropspec.conformance.defaults import DEFAULT_EXAMPLES, DEFAULT_SEED

    for cid, row in rows.items():
        op = CLAUSES[cid].op
        g = Geometry.of(op, {})
        allowed = g.allowed()
        seed = check_seed(DEFAULT_SEED, f"op:{op}", "examples")
        name = CHECKS[cid].__name__
        p = inputs.plan(name, allowed, "numpy", "any", seed, dtypes=4)
        d = inputs.design(name)
        drawn_cells = len(p.core) * 4 + max(2, math.ceil(DEFAULT_EXAMPLES / 4)) * 4
        assert row.cells["numpy"] == (d.cells * 4 if d.cells else drawn_cells)
        if d.shapes:
            assert f"{len(p.core)} core" in row.shapes and row.layouts == ", ".join(p.layouts)
        assert row.values == (", ".join(d.values) if d.values else f"its own: {d.own}")


# ---------------------------------------------------------------- wrong implementations ----


def dropout_target(fn: Any, name: str, **options: Any) -> Target:
    return make_target(fn, "dropout", name=name, framework="numpy", **options)


def _right(x: np.ndarray, rate: float, training: bool, seed: int) -> np.ndarray:
    return np.asarray(reference_dropout(x, rate, training=training, seed=seed))


def rank5_unscaled(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    y = _right(x, rate, training, seed)
    if training and x.ndim == 5 and rate < 1:  # a rank-5 kernel forgets the scale
        y = np.asarray(y * x.dtype.type(1 - rate), dtype=x.dtype)
    return y


def storage_order(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    # Walks the input in memory order and writes the result in C order.
    flat = np.ravel(x, order="K")
    return _right(flat, rate, training, seed).reshape(x.shape)


def clips_infinities(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    y = _right(x, rate, training, seed)
    big = inputs._largest("bfloat16" if x.dtype == as_dtype("bfloat16") else str(x.dtype))
    return np.asarray(np.clip(y.astype(np.float64), -big, big), dtype=x.dtype)


def no_empty_batch(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    if x.size == 0:
        raise ValueError("empty input")
    return _right(x, rate, training, seed)


def unscaled_2d(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    y = _right(x, rate, training, seed)
    if training and x.ndim == 2 and x.shape[1] >= 6 and rate < 1:
        y = np.asarray(y * x.dtype.type(1 - rate), dtype=x.dtype)
    return y


_BUFFER: dict[tuple[Any, ...], np.ndarray] = {}


def reused_buffer(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    # One output buffer per shape, handed out again by each call; the mask ignores the seed.
    key = (x.shape, x.dtype)
    out = _BUFFER.setdefault(key, np.empty(x.shape, x.dtype))
    noise = int(np.random.default_rng().integers(1 << 62))
    out[...] = _right(x, rate, training, noise if training else seed)
    return out


WRONG = [
    (rank5_unscaled, {}, "DROPOUT-VALUES"),
    (storage_order, {}, "DROPOUT-VALUES"),
    (clips_infinities, {}, "DROPOUT-VALUES"),
    (no_empty_batch, {}, "DROPOUT-SHAPE"),
    (unscaled_2d, {}, "DROPOUT-VALUES"),
    (reused_buffer, {}, "DROPOUT-DETERMINISTIC"),
]


@pytest.mark.parametrize(("fn", "options", "clause"), WRONG, ids=[w[0].__name__ for w in WRONG])
def test_wrong_implementations_the_new_dimensions_expose_are_caught(
    fn: Any, options: dict[str, Any], clause: str
) -> None:
    target = dropout_target(fn, f"wrong.{fn.__name__}", **options)
    for seed in (0, 1, 2):
        (r,) = run_target(target, clauses=[clause], config=Config(seed=seed))
        assert r.outcome == "failed", f"{fn.__name__} passed {clause} at base seed {seed}"


def test_the_reference_passes_layout_and_values_in_every_layout() -> None:
    target = dropout_target(reference_dropout, "reference.copy")
    results = run_target(target, clauses=["DROPOUT-LAYOUT", "DROPOUT-VALUES"], config=Config())
    assert [r.outcome for r in results] == ["passed", "passed"], [r.message for r in results]


def test_a_target_whose_mask_follows_storage_order_fails_layout_only() -> None:
    def storage_mask(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
        if not training or rate == 0:
            return np.array(x, copy=True)
        order = "F" if x.flags.f_contiguous and not x.flags.c_contiguous else "C"
        keep = np.random.default_rng(seed).random(x.size) >= rate
        keep = keep.reshape(x.shape, order=order)
        scale = x.dtype.type(0 if rate == 1 else 1 / (1 - rate))
        return np.where(keep, x * scale, np.zeros((), x.dtype))

    target = dropout_target(storage_mask, "storage.mask")
    results = run_target(target, clauses=["DROPOUT-LAYOUT", "DROPOUT-VALUES"], config=Config())
    by_id = {r.clause_id: r for r in results}
    layout, values = by_id["DROPOUT-LAYOUT"], by_id["DROPOUT-VALUES"]
    assert layout.outcome == "failed" and values.outcome == "passed", values.message
