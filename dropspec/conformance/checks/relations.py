"""Checks of the relations every op's output keeps, whatever its implementation: each rules
out a whole class of faults rather than one fault (the ``*-VALUE-FREE``, ``*-FRESH-OUTPUT``,
``*-RATE-INVALID-INFERENCE`` and ``*-SEED-*`` clauses built by ``spec._common.relations``).

Every check here is exact: two calls are compared value by value, or a call must raise. Each
op's module registers these for its own clause ids.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

from ...dtypes import as_dtype, dtype_name, eps
from ...reference import ALPHA_PRIME, alpha_constants
from .. import strategies as gen
from ..context import CheckFailure, Context, NotApplicable, NotChecked, TargetError
from ..twin import TWIN, TwinError, job_target, load_dtype, save_dtype
from ._examples import (
    WIDE,
    Case,
    LayerCase,
    case_text,
    cases,
    examples,
    first_mismatch,
    require_same,
    same_shape,
)
from ._geometry import geometry
from ._masks import decode, decoded_layout, decoder_layer, scale
from .common import SEED_LARGE, SEED_MASK_VALUES, seed_signature, signature_text, small_inputs

# ---------------------------------------------------------------- VALUE-FREE ----


def _variants(x: np.ndarray, data_seed: int) -> list[tuple[str, np.ndarray]]:
    """Inputs of x's shape and dtype that a mask must not tell from x. Powers of two keep
    every value exact and normal in every dtype (x's magnitudes lie in [1/4, 4])."""
    permuted = np.random.default_rng(data_seed + 1).permutation(x.reshape(-1)).reshape(x.shape)
    # np.asarray: arithmetic on a rank-0 array gives a NumPy scalar, not an array.
    return [
        ("-x", np.asarray(-x)),
        ("4·x", np.asarray(x * 4, dtype=x.dtype)),
        ("x/4", np.asarray(x / 4, dtype=x.dtype)),
        ("x with its values permuted", np.asarray(permuted)),
        ("all ones", np.ones_like(x)),
    ]


def _kept(ctx: Context, y: np.ndarray, x: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Which units a call on x kept, and where that reading is unambiguous."""
    yd, xd = y.astype(np.float64), x.astype(np.float64)
    if geometry(ctx).mask == "alpha":
        a, b = alpha_constants(rate)
        kept = np.abs(yd - (a * xd + b)) < np.abs(yd - (a * ALPHA_PRIME + b))
        # x near α′ gives a kept value within rounding of the dropped one.
        return kept, np.abs(xd - ALPHA_PRIME) > 0.1
    return yd != 0, np.ones(y.shape, dtype=bool)


def _noise_differs(y: np.ndarray, x: np.ndarray, y0: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Where the noise y/x of two calls differs by more than the rounding of y."""
    d = as_dtype(y.dtype)
    tiny = float(ml_dtypes.finfo(d).smallest_normal)  # type: ignore[no-untyped-call]
    r = y.astype(np.float64) / x.astype(np.float64)
    r0 = y0.astype(np.float64) / x0.astype(np.float64)
    small = np.minimum(np.abs(x.astype(np.float64)), np.abs(x0.astype(np.float64)))
    tol = 4 * eps(d) * np.abs(r0) + 4 * tiny / small
    out: np.ndarray = np.abs(r - r0) > tol
    return out


def relation_inputs(ctx: Context, data_seed: int) -> tuple[np.ndarray, ...]:
    """Inputs in the layout of the masks INDEPENDENT-SEEDS and SEED-SPACE read (so a
    framework that compiles per shape has compiled it), with random values: a unit op's
    nonzero values of magnitude 1/4 to 4, a layer's x, weight and bias of the decoder's size."""
    g, dtype = geometry(ctx), ctx.stat_dtype
    if g.layer:
        batch, n_out, n_in, _ = decoded_layout(ctx, SEED_MASK_VALUES)
        return LayerCase(dtype, (batch, n_in, n_out), 0.5, data_seed, 0).inputs()
    return (gen.values(data_seed, g.stat_shape(SEED_MASK_VALUES), dtype),)


def check_value_free(ctx: Context) -> None:
    """The same seed drops the same positions (or draws the same noise) for x and for inputs
    made from x by sign flips, power-of-two scalings, permutation, and for all ones: on the
    examples every exact check draws, and on one input of 2^15 mask values at rate 0.5."""
    relation = _layer_value_free if geometry(ctx).layer else _unit_value_free
    if geometry(ctx).layer and ctx.stat_dtype not in WIDE:
        raise NotApplicable("a layer's masks are decoded in float32 or float64 only")
    seed = ctx.seed()
    relation(ctx, relation_inputs(ctx, seed & 0xFFFFFFFF), 0.5, seed, seed & 0xFFFFFFFF, "")

    def body(case: Case | LayerCase) -> None:
        relation(ctx, case.inputs(), case.rate, case.seed, case.data_seed, case.describe())

    # A decoder layer needs n_in + 1 exact bits of s·Σ 2^j: float32 or float64.
    dtypes = tuple(d for d in ctx.dtypes if d in WIDE) if geometry(ctx).layer else None
    examples(ctx, lambda d: cases(ctx, d), body, dtypes)


def _unit_value_free(
    ctx: Context, arrays: tuple[np.ndarray, ...], rate: float, seed: int, data_seed: int, what: str
) -> None:
    (x,) = arrays
    what = what or f"dtype={x.dtype}, shape={x.shape}, rate={rate!r}, seed={seed}"
    noise = geometry(ctx).mask == "noise"
    y0 = ctx.call(x, rate=rate, seed=seed)
    same_shape(y0, x.shape)
    kept0, sure0 = _kept(ctx, y0, x, rate)
    for label, xv in _variants(x, data_seed):
        y = ctx.call(xv, rate=rate, seed=seed)
        same_shape(y, x.shape)
        if noise:
            bad = _noise_differs(y, xv, y0, x)
        else:
            kept, sure = _kept(ctx, y, xv, rate)
            bad = (kept != kept0) & sure & sure0
        if bad.any():
            idx = tuple(int(i[0]) for i in np.nonzero(bad))
            raise CheckFailure(
                f"the same seed gives other {'noise y/x' if noise else 'dropped positions'} "
                f"for {label} than for x: {int(bad.sum())} of {bad.size} differ, first at "
                f"{idx} (x={x[idx]!r}: y={y0[idx]!r}; {label}={xv[idx]!r}: y={y[idx]!r}) "
                f"({what})"
            )


def _layer_value_free(
    ctx: Context, arrays: tuple[np.ndarray, ...], rate: float, seed: int, data_seed: int, what: str
) -> None:
    """A layer's weight masks, read from a decoder call (x = 1, W[o, j] = 2^j), must also
    be the masks of a call with the same seed on other x, weight and bias: the output equals
    a(s·x·(M ⊙ W)ᵀ + b′) for the decoded M, to within the rounding of a dot product."""
    x, w, b = arrays
    (batch, n_in), n_out, dtype = x.shape, w.shape[0], dtype_name(x.dtype)
    what = what or case_text(dtype, (batch, n_in, n_out), rate, seed)
    m, mb = _decoded_masks(ctx, batch, n_out, n_in, dtype, rate, seed)
    s = scale(ctx, rate)
    # The masks are compared, not the rounding: a dot product in float32 is allowed.
    ulp = max(eps(dtype), eps("float32"))
    for label, xv in (("x", x), ("-x", -x)):
        y = ctx.call(xv, w, b, rate=rate, seed=seed)
        same_shape(y, (batch, n_out))
        x64, w64, b64 = xv.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
        pre = s * np.einsum("bj,boj->bo", x64, m * w64)
        pre += s * mb * b64 if ctx.options["mask_bias"] else b64
        want = np.maximum(pre, 0.0) if ctx.options["activation"] == "relu" else pre
        mag = np.abs(x64) @ np.abs(w64).T + np.abs(b64)
        tol = (n_in + 2) * ulp * mag * 2 * max(s, 1.0) + 1e-30
        if np.any(np.abs(y.astype(np.float64) - want) > tol):
            raise CheckFailure(
                f"a call on {label} and random weights does not use the weight masks the same "
                f"seed gives a decoder layer (x = 1, W[o, j] = 2^j): "
                f"{first_mismatch(y, want)} ({what})"
            )


#: Input columns one decoder call reads: s·(2^(k + 1) − 1) stays exact in float32.
DECODED_COLUMNS = 16


def _decoded_masks(
    ctx: Context, batch: int, n_out: int, n_in: int, dtype: str, rate: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The weight masks (batch, n_out, n_in) and bias masks of one seed, read by decoder
    calls of the case's own shape: each call sets W[o, j] = 2^(j − c) on a block of
    :data:`DECODED_COLUMNS` columns from c and 0 elsewhere, so wide layers (the input design
    reaches 129 inputs) decode exactly."""
    xd, wd, bd = decoder_layer(ctx, batch, n_out, min(n_in, DECODED_COLUMNS), dtype)
    blocks, bias = [], np.zeros((batch, n_out))
    for c in range(0, n_in, DECODED_COLUMNS):
        k = min(DECODED_COLUMNS, n_in - c)
        w = np.zeros((n_out, n_in), dtype=wd.dtype)
        w[:, c : c + k] = wd[:, :k]
        b = np.full(n_out, 2.0**k if ctx.options["mask_bias"] else 0.0, dtype=bd.dtype)
        yd = ctx.call(np.ones((batch, n_in), dtype=xd.dtype), w, b, rate=rate, seed=seed)
        same_shape(yd, (batch, n_out))
        mk, bias = (np.asarray(a, np.float64) for a in decode(ctx, yd, rate, k))
        blocks.append(mk)
    return np.concatenate(blocks, axis=-1), bias


# ---------------------------------------------------------------- FRESH-OUTPUT ----


def _memory(ctx: Context, value: Any) -> np.ndarray | None:
    """A NumPy view of a framework array's own memory (no copy), or None where the array
    cannot be viewed so (an accelerator, a dtype DLPack cannot carry)."""
    if isinstance(value, np.ndarray):
        return value
    try:
        view: np.ndarray = np.from_dlpack(ctx.backend.for_reduction(value))
    except Exception:
        return None
    return view


def _shares(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return a is not None and b is not None and bool(np.shares_memory(a, b))


def check_fresh_output(ctx: Context) -> None:
    """:func:`fresh_output` on :func:`relation_inputs` (in the dtype of the statistical
    checks: the fault does not depend on it)."""
    fresh_output(ctx, relation_inputs(ctx, ctx.check_seed & 0xFFFFFFFF), _one_array(ctx))


def _one_array(ctx: Context) -> Callable[[Any], tuple[Any, ...]]:
    def outputs(out: Any) -> tuple[Any, ...]:
        if not ctx.backend.is_array(out):
            raise TargetError(f"target returned {type(out).__name__}, not an array")
        return (out,)

    return outputs


def fresh_output(
    ctx: Context, arrays: tuple[np.ndarray, ...], outputs: Callable[[Any], tuple[Any, ...]]
) -> None:
    """Three training calls (two with one seed) and an inference call on ``arrays`` at rate
    0.5, every output kept alive (so its memory cannot be handed out again): no array a
    training call returns (``outputs`` picks them from what it returns) shares memory with
    an input or an earlier output, no inference output with an earlier output, and every
    input reads as it did before the call."""
    seed, other = ctx.seed(), ctx.seed()
    kept: list[tuple[Any, np.ndarray | None, str]] = []
    for training, s in ((True, seed), (True, seed), (True, other), (False, seed)):
        what = f"training={training}, seed={s}, dtype={arrays[0].dtype}, rate=0.5"
        converted = [ctx.framework_array(a) for a in arrays]
        start = time.perf_counter()
        try:
            raw = ctx.invoke(*converted, 0.5, training=training, seed=s)
        finally:
            ctx.target_seconds += time.perf_counter() - start
        for out in outputs(raw):
            view = _memory(ctx, out)
            if training and any(_shares(view, _memory(ctx, c)) for c in converted):
                raise CheckFailure(f"the output shares memory with the input ({what})")
            for i, (_, earlier, label) in enumerate(kept):
                if _shares(view, earlier):
                    raise CheckFailure(
                        f"the output shares memory with the output of call {i + 1} "
                        f"({label}), which the caller still holds ({what})"
                    )
            kept.append((out, view, what))
        for c, a in zip(converted, arrays, strict=True):
            require_same("input", ctx.host(c), a, f"the call changed its input ({what})")


# ---------------------------------------------------------------- RATE-INVALID-INFERENCE ----

#: Rates no call may take, in either mode (the rates of ``*-RATE-INVALID``).
INVALID_RATES = (-0.1, 1.5, float("nan"), -1e-12, 1.0 + 1e-9)


def check_rate_invalid_inference(ctx: Context) -> None:
    """:func:`rate_invalid_inference` on :func:`~.common.small_inputs`."""
    rate_invalid_inference(ctx, small_inputs(ctx))


def rate_invalid_inference(ctx: Context, arrays: tuple[np.ndarray, ...]) -> None:
    """Every invalid rate raises with training=False on ``arrays`` (a layer built per call
    raises at construction, which the call sees as well)."""
    accepted = []
    for rate in INVALID_RATES:
        try:
            ctx.call_raw(*arrays, rate=rate, training=False, seed=ctx.seed())
        except Exception:
            continue
        accepted.append(rate)
    if accepted:
        raise CheckFailure(f"rates {accepted} were accepted with training=False")


# ---------------------------------------------------------------- SEED-SPACE, SEED-PAIRS ----


def _collision(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> str:
    """The first size class in which two :func:`~.common.seed_signature`'s masks are
    equal, or ''."""
    return next((size for size in a if np.array_equal(a[size], b[size])), "")


def edge_seeds(bits: int) -> list[int]:
    """The seeds SEED-SPACE checks, those within ``bits``."""
    wanted = (0, 1, (1 << 32) - 1, 1 << 32, 1 << 63, (1 << bits) - 1)
    return sorted({s for s in wanted if s < 1 << bits})


def check_seed_space(ctx: Context) -> None:
    """Each edge seed (:func:`edge_seeds`) gives one large mask twice (each size is called
    twice by DETERMINISTIC's examples), and masks of its own in every size class
    (:func:`~.common.seed_signature`)."""
    masks: list[tuple[int, dict[str, np.ndarray]]] = []
    for s in edge_seeds(ctx.target.seed_bits):
        first, second = seed_signature(ctx, s), seed_signature(ctx, s, large_only=True)
        if not np.array_equal(first[SEED_LARGE], second[SEED_LARGE]):
            raise CheckFailure(
                f"seed {s} gives two different masks in two calls "
                f"({signature_text(ctx, SEED_LARGE, first)}): it is not taken as a seed (seed 0 "
                f"read as 'no seed' does this)"
            )
        for t, earlier in masks:
            size = _collision(first, earlier)
            if size:
                raise CheckFailure(
                    f"seeds {t} and {s} give the same masks in {signature_text(ctx, size, first)}"
                )
        masks.append((s, first))


def seed_pairs(seed: int, bits: int) -> list[tuple[int, str]]:
    """The seeds SEED-PAIRS pairs with ``seed``: those within ``bits`` and unequal to it."""
    top = 1 << bits
    lo, hi = seed & 0xFFFFFFFF, seed >> 32
    m32 = (1 << 32) - 1
    candidates = [
        (seed ^ (1 << 32), "s ± 2³²"),
        (seed + m32 if seed + m32 < top else seed - m32, "s ± (2³² − 1)"),
        (lo ^ hi, "the XOR of s's 32-bit halves"),
        ((lo << 32) | hi, "s with its 32-bit halves swapped"),
        ((top - seed) % top, "−s modulo 2^bits"),
    ]
    out: list[tuple[int, str]] = []
    for other, label in candidates:
        if 0 <= other < top and other != seed and other not in (o for o, _ in out):
            out.append((other, label))
    return out


def check_seed_pairs(ctx: Context) -> None:
    """A drawn seed's masks against the masks of its :func:`seed_pairs`, value by value, in
    every size class (:func:`~.common.seed_signature`)."""
    bits = ctx.target.seed_bits
    # Both 32-bit halves nonzero (where the width has two), so that the folded and swapped
    # partners are seeds other than s.
    seed = ctx.seed() | (1 << min(bits - 1, 40)) | 1
    base = seed_signature(ctx, seed)
    for other, label in seed_pairs(seed, bits):
        size = _collision(base, seed_signature(ctx, other))
        if size:
            raise CheckFailure(
                f"seeds {seed} and {other} ({label}) give the same masks in "
                f"{signature_text(ctx, size, base)}"
            )


# ---------------------------------------------------------------- SEED-PROCESS ----


def check_seed_process(ctx: Context) -> None:
    """:func:`seed_process` on :func:`relation_inputs` at rate 0.3."""
    arrays = relation_inputs(ctx, 13)
    seed_process(ctx, arrays, 0.3, lambda s: ctx.call(*arrays, rate=0.3, seed=s))


def seed_process(
    ctx: Context, arrays: tuple[np.ndarray, ...], rate: float, output: Callable[[int], np.ndarray]
) -> None:
    """Two seeds' outputs here (``output(seed)``, a call on ``arrays``) and in the second
    process (:data:`~..twin.TWIN`, which keeps the first array of a target that returns
    several), value by value. The second process rebuilds the target from scratch: by the
    name or ``file.py:function`` it was loaded by, else by importing the module that
    declared it (:func:`~..twin.job_target`), so state drawn when that module is imported is
    drawn anew there. A target no import re-creates (made in a function) is not checked."""
    seeds = [ctx.seed(), ctx.seed()]
    here = [output(s) for s in seeds]
    with tempfile.TemporaryDirectory(prefix="dropspec-twin-") as tmp:
        inputs, out = Path(tmp, "in.npz"), Path(tmp, "out.npz")
        np.savez(inputs, *[save_dtype(a) for a in arrays])
        job = {
            "target": job_target(ctx.target),
            "inputs": str(inputs),
            "out": str(out),
            "rate": rate,
            "seeds": seeds,
            "dtypes": [str(a.dtype) for a in arrays],
            "device": ctx.config.device,
        }
        start = time.perf_counter()
        try:
            answer = TWIN.ask(job)
        except TwinError as exc:
            raise TargetError(str(exc)) from None
        finally:
            ctx.target_seconds += time.perf_counter() - start
        if "error" in answer:
            raise CheckFailure(f"the call raised in a second Python process: {answer['error']}")
        if "unloadable" in answer:
            raise NotChecked(
                f"the target cannot be rebuilt in another process ({answer['unloadable']}); "
                f"declare it at the top level of a module, or load it from a file, to "
                f"check this"
            )
        with np.load(out) as saved:
            there = [load_dtype(saved[f"arr_{i}"], str(arrays[0].dtype)) for i in range(len(seeds))]
    for s, a, b in zip(seeds, here, there, strict=True):
        require_same(
            "another process",
            b,
            a,
            f"seed {s} gives another output in a second Python process "
            f"(dtype={arrays[0].dtype}, rate={rate})",
        )
