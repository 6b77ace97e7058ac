"""Stateful built-in targets in NumPy: for every op with a layer-style API (dropout, alpha
dropout, Gaussian dropout, drop path), the reference and a second, independent
implementation, each a layer that owns a generator seeded once (``calls="stateful"``).

They are not in the default ``dropspec check`` (the reference targets, whose names start
with ``reference.``), only in ``--all`` and by name: the seeded clauses they share with the
reference cost a second reference run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from ..target import Target, make_stateful_target


def _reference_layer(op: str = "dropout", **options: Any) -> Callable[..., Any]:
    """The reference function of ``op`` called with one generator, seeded once."""

    def factory(rate: float, *, seed: int) -> Callable[..., np.ndarray]:
        from .. import reference  # here, not at import: the framework adapters import this

        fn = getattr(reference, op)
        rng = np.random.default_rng(seed)  # the layer's own state, seeded once

        def layer(x: np.ndarray, *, training: bool) -> np.ndarray:
            out: np.ndarray = fn(x, rate, training=training, seed=rng, **options)
            return out

        return layer

    return factory


def _second_layer(rate: float, *, seed: int) -> Callable[..., np.ndarray]:
    # Independent of the reference: a Philox counter stream, uniform floats, a multiply.
    if not 0.0 <= rate <= 1.0:  # NaN fails both comparisons
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    bits = np.random.Philox(key=seed)

    def layer(x: np.ndarray, *, training: bool) -> np.ndarray:
        if not training:
            return x.copy()
        keep = np.random.Generator(bits).random(x.shape) >= rate
        scale = x.dtype.type(0.0 if rate == 1.0 else 1.0 / (1.0 - rate))
        return np.where(keep, x * scale, np.zeros((), x.dtype))

    return layer


def _reference_dropconnect(**options: Any) -> Callable[..., Any]:
    """The reference DropConnect layer with ``options``, one generator seeded once."""

    def factory(rate: float, *, seed: int) -> Callable[..., np.ndarray]:
        from .. import reference

        rng = np.random.default_rng(seed)

        def layer(
            x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *, training: bool
        ) -> np.ndarray:
            out: np.ndarray = reference.dropconnect(
                x, weight, bias, rate, training=training, seed=rng, **options
            )
            return out

        return layer

    return factory


def _second_dropconnect_layer(rate: float, *, seed: int) -> Callable[..., np.ndarray]:
    # Independent of the reference: per-example masks on the weights and the bias from one
    # Philox stream, inverted scaling, the plain layer in inference.
    _validated(rate, allow_one=True)
    bits = np.random.Philox(key=seed)

    def layer(
        x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *, training: bool
    ) -> np.ndarray:
        x, weight = np.asarray(x), np.asarray(weight)
        if x.ndim != 2 or weight.ndim != 2 or x.shape[1] != weight.shape[1]:
            raise ValueError(f"x {x.shape} and weight {weight.shape} do not make a layer")
        if bias is not None and np.shape(bias) != (weight.shape[0],):
            raise ValueError(f"bias {np.shape(bias)} does not match weight {weight.shape}")
        w = np.dtype(np.float64 if x.dtype == np.float64 else np.float32)
        xw: Any = x.astype(w)
        ww: Any = weight.astype(w)
        bw: Any = np.zeros(weight.shape[0], w) if bias is None else np.asarray(bias).astype(w)
        if not training:
            return np.asarray(xw @ ww.T + bw).astype(x.dtype)
        gen = np.random.Generator(bits)
        batch, (n_out, n_in) = x.shape[0], weight.shape
        keep_w = gen.random((batch, n_out, n_in)) >= rate
        keep_b = gen.random((batch, n_out)) >= rate
        s: Any = w.type(0.0 if rate == 1.0 else 1.0 / (1.0 - rate))
        masked: Any = np.where(keep_w, ww[None], w.type(0.0))
        kept_bias: Any = np.where(keep_b, bw * s, w.type(0.0))
        return np.asarray(np.einsum("ni,noi->no", xw, masked) * s + kept_bias).astype(x.dtype)

    return layer


def _validated(rate: float, *, allow_one: bool) -> None:
    if not 0.0 <= rate <= 1.0:  # NaN fails both comparisons
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    if rate == 1.0 and not allow_one:
        raise ValueError("rate 1 is refused in training")


def _wide(x: np.ndarray) -> type[np.floating[Any]]:
    """float64 for float64 input, float32 otherwise (the half types computed in float32)."""
    return np.float64 if x.dtype == np.float64 else np.float32


def _second_alpha_layer(rate: float, *, seed: int) -> Callable[..., np.ndarray]:
    # Independent of the reference: Philox uniforms compared with the rate, the affine map
    # written out from the SELU constants, rate 1 refused in training only.
    _validated(rate, allow_one=True)
    bits = np.random.Philox(key=seed)
    saturation = -1.0507009873554805 * 1.6732632423543772  # -lambda * alpha

    def layer(x: np.ndarray, *, training: bool) -> np.ndarray:
        if not training or rate == 0.0:
            return x.copy()
        if rate == 1.0:
            raise ValueError("alpha dropout at rate 1 is refused in training")
        a = 1.0 / np.sqrt((1.0 - rate) * (1.0 + rate * saturation**2))
        b = -a * rate * saturation
        keep = np.random.Generator(bits).random(x.shape) >= rate
        w = _wide(x)
        out: np.ndarray = np.where(keep, x.astype(w), w(saturation)) * w(a) + w(b)
        return out.astype(x.dtype)

    return layer


def _second_gaussian_layer(rate: float, *, seed: int) -> Callable[..., np.ndarray]:
    # Independent of the reference: Philox normals (float64), the noise 1 + sd·z formed in
    # the computing dtype, one rounding of the product.
    _validated(rate, allow_one=True)
    bits = np.random.Philox(key=seed)

    def layer(x: np.ndarray, *, training: bool) -> np.ndarray:
        if not training or rate == 0.0:
            return x.copy()
        if rate == 1.0:
            raise ValueError("Gaussian dropout at rate 1 has infinite variance")
        w = _wide(x)
        z = np.random.Generator(bits).standard_normal(x.shape).astype(w)
        noise = w(1.0) + w(np.sqrt(rate / (1.0 - rate))) * z
        out: np.ndarray = x.astype(w) * noise
        return out.astype(x.dtype)

    return layer


def _second_drop_path_layer(rate: float, *, seed: int) -> Callable[..., np.ndarray]:
    # Independent of the reference: one Philox uniform per example, broadcast over the rest.
    _validated(rate, allow_one=True)
    bits = np.random.Philox(key=seed)

    def layer(x: np.ndarray, *, training: bool) -> np.ndarray:
        if not training:
            return x.copy()
        draws = np.asarray(np.random.Generator(bits).random(x.shape[0]))
        keep = np.greater_equal(draws, rate).reshape((x.shape[0],) + (1,) * (x.ndim - 1))
        scale = x.dtype.type(0.0 if rate == 1.0 else 1.0 / (1.0 - rate))
        return np.where(keep, x * scale, np.zeros((), x.dtype))

    return layer


def with_seeded_twins(targets: Iterable[Target]) -> tuple[Target, ...]:
    """``targets``, each framework stateful layer ``"X (stateful)"`` whose seeded convention
    ``"X"`` is among them declaring what it shares with ``X``: ``X``'s dtypes, and ``X``'s
    expected failures with the dtypes they are confined to, beside its own (the state
    clauses, which only a layer that keeps its state has).

    The layer's seeded convention (built from the seed, called once) runs ``X``'s kernel, so
    it is checked in every dtype ``X`` is, and fails where ``X`` fails: a divergence of ``X``
    is declared once, in ``X``'s declaration, and an adapter module applies this to its
    ``TARGETS``. A stateful layer that declares dtypes of its own keeps them (tests/
    test_twins.py holds that none does)."""
    targets = tuple(targets)
    by_name = {t.name: t for t in targets}
    out = []
    for t in targets:
        seeded = by_name.get(t.name.removesuffix(" (stateful)"))
        if seeded is None or seeded is t or t.options.get("calls") != "stateful":
            out.append(t)
            continue
        twin = replace(
            t,
            dtypes=seeded.dtypes if t.dtypes is None else t.dtypes,
            expected_failures={**seeded.expected_failures, **t.expected_failures},
            expected_failure_dtypes={
                **seeded.expected_failure_dtypes,
                **t.expected_failure_dtypes,
            },
        )
        out.append(twin)
    return tuple(out)


TARGETS: tuple[Target, ...] = (
    make_stateful_target(
        _reference_layer(),
        "dropout",
        name="stateful.reference.dropout",
        description="dropspec.reference.dropout called with one numpy Generator, seeded once",
    ),
    make_stateful_target(
        _second_layer,
        "dropout",
        name="stateful.numpy.philox.dropout",
        description="a NumPy layer drawing from one Philox stream, seeded once",
    ),
    make_stateful_target(
        _reference_layer("alpha_dropout"),
        "alpha_dropout",
        name="stateful.reference.alpha_dropout",
        description="dropspec.reference.alpha_dropout called with one numpy Generator, seeded once",
    ),
    make_stateful_target(
        _second_alpha_layer,
        "alpha_dropout",
        name="stateful.numpy.philox.alpha_dropout",
        description="a NumPy alpha dropout layer drawing from one Philox stream, seeded once",
    ),
    make_stateful_target(
        _reference_layer("gaussian_dropout"),
        "gaussian_dropout",
        name="stateful.reference.gaussian_dropout",
        description="dropspec.reference.gaussian_dropout called with one numpy Generator, "
        "seeded once",
    ),
    make_stateful_target(
        _second_gaussian_layer,
        "gaussian_dropout",
        name="stateful.numpy.philox.gaussian_dropout",
        description="a NumPy Gaussian dropout layer drawing normals from one Philox stream, "
        "seeded once",
    ),
    make_stateful_target(
        _reference_layer("drop_path"),
        "drop_path",
        name="stateful.reference.drop_path",
        description="dropspec.reference.drop_path called with one numpy Generator, seeded once",
    ),
    make_stateful_target(
        _reference_dropconnect(
            masks="per_batch", mask_bias=False, scaling="inverted", inference="mean"
        ),
        "dropconnect",
        name="stateful.reference.dropconnect",
        masks="per_batch",
        mask_bias=False,
        scaling="inverted",
        inference="mean",
        description="dropspec.reference.dropconnect as weight drop (one mask per call, bias "
        "unmasked, mean inference) called with one numpy Generator, seeded once",
    ),
    make_stateful_target(
        _second_dropconnect_layer,
        "dropconnect",
        name="stateful.numpy.philox.dropconnect",
        masks="per_example",
        mask_bias=True,
        scaling="inverted",
        inference="mean",
        description="a NumPy DropConnect layer, per-example masks on weights and bias from one "
        "Philox stream, seeded once",
    ),
    make_stateful_target(
        _second_drop_path_layer,
        "drop_path",
        name="stateful.numpy.philox.drop_path",
        description="a NumPy drop path layer drawing one Philox uniform per example, seeded once",
    ),
)
