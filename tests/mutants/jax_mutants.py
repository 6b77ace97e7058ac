"""JAX mutants: gradient faults through ``jax.custom_vjp``, and forward faults.

jax is imported inside the functions only (the suite's JAX backend turns on float64 before
any target runs). Masks come from ``jax.random.key(seed)``; the functions run eagerly.
"""

from __future__ import annotations

import math
from typing import Any

from dropspec.reference import ALPHA_PRIME

from . import Mutant, check_layer, collector, validate

M: list[Mutant] = []


add = collector(M, "jax")


# ---------------------------------------------------------------- gradient faults ----


def _masked(mode: str, per_example: bool) -> Any:
    """Dropout (or drop path) with a custom VJP whose backward is wrong as ``mode`` says."""

    def fn(x: Any, rate: float, *, training: bool, seed: int) -> Any:
        import jax
        import jax.numpy as jnp

        validate(rate)
        if not training:
            return x
        if rate == 1.0:
            return jnp.zeros_like(x)
        s = 1.0 / (1.0 - rate)
        shape = (x.shape[0],) + (1,) * (x.ndim - 1) if per_example else x.shape
        key = jax.random.key(seed)
        keep = jax.random.bernoulli(key, 1.0 - rate, shape)

        @jax.custom_vjp
        def f(v: Any) -> Any:
            return jnp.where(keep, v * s, jnp.zeros((), v.dtype)).astype(v.dtype)

        def f_fwd(v: Any) -> Any:
            return f(v), None

        def f_bwd(_: Any, g: Any) -> Any:
            if mode == "fresh_mask":
                fresh = jax.random.bernoulli(jax.random.fold_in(key, 1), 1.0 - rate, shape)
                return (jnp.where(fresh, g * s, jnp.zeros((), g.dtype)).astype(g.dtype),)
            return (jnp.where(keep, g, jnp.zeros((), g.dtype)),)  # "unscaled"

        f.defvjp(f_fwd, f_bwd)
        return f(x)

    return fn


add(
    _masked("fresh_mask", per_example=False),
    "dropout",
    "custom_vjp_fresh_mask",
    "gradient",
    "custom_vjp whose backward draws its mask from fold_in(key, 1), not the forward key",
    "DROPOUT-GRADIENT",
)
add(
    _masked("unscaled", per_example=True),
    "drop_path",
    "custom_vjp_unscaled",
    "gradient",
    "drop path whose custom_vjp masks the gradient but forgets 1/(1 - rate)",
    "DROPPATH-GRADIENT",
)


def _gauss_grad(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import jax
    import jax.numpy as jnp

    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1")
    if not training or rate == 0.0:
        return x
    z = jax.random.normal(jax.random.key(seed), x.shape, dtype=jnp.float64)
    noise = 1.0 + math.sqrt(rate / (1.0 - rate)) * z

    @jax.custom_vjp
    def f(v: Any) -> Any:
        return (v.astype(jnp.float64) * noise).astype(v.dtype)

    def f_fwd(v: Any) -> Any:
        return f(v), None

    def f_bwd(_: Any, g: Any) -> Any:
        return (g,)  # the gradient passed through as if the noise were 1

    f.defvjp(f_fwd, f_bwd)
    return f(x)


add(
    _gauss_grad,
    "gaussian_dropout",
    "custom_vjp_identity",
    "gradient",
    "Gaussian dropout whose custom_vjp passes the gradient through without the noise",
    "GAUSSIAN-GRADIENT",
)


def _dc_grad(x: Any, w: Any, b: Any, rate: float, *, training: bool, seed: int) -> Any:
    import jax
    import jax.numpy as jnp

    validate(rate)
    check_layer(x, w, b)
    if not training:
        return x @ w.T + b
    if rate == 1.0:
        return x @ jnp.zeros_like(w).T + b
    s = 1.0 / (1.0 - rate)
    keep = jax.random.bernoulli(jax.random.key(seed), 1.0 - rate, w.shape)
    thinned = jnp.where(keep, w * s, jnp.zeros((), w.dtype)).astype(w.dtype)

    @jax.custom_vjp
    def f(v: Any) -> Any:
        return v @ thinned.T + b

    def f_fwd(v: Any) -> Any:
        return f(v), None

    def f_bwd(_: Any, g: Any) -> Any:
        return (g @ w,)  # neither mask nor scale

    f.defvjp(f_fwd, f_bwd)
    return f(x)


add(
    _dc_grad,
    "dropconnect",
    "custom_vjp_plain_weight",
    "gradient",
    "weight drop whose custom_vjp uses W for the backward pass (no mask, no scale)",
    "DROPCONNECT-GRADIENT",
    masks="per_batch",
    mask_bias=False,
    inference="mean",
)


# ---------------------------------------------------------------- forward faults ----


def _pair_keys(x: Any, w: Any, b: Any, rate: float, *, training: bool, seed: int) -> Any:
    import jax
    import jax.numpy as jnp

    validate(rate)
    check_layer(x, w, b)
    if not training:
        return x @ w.T + b
    if rate == 1.0:
        return x @ jnp.zeros_like(w).T + b
    key = jax.random.key(seed)
    n = x.shape[0]
    # fold_in(key, i // 2): examples 2k and 2k + 1 get the same key, hence the same mask
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i // 2))(jnp.arange(n))
    keep = jax.vmap(lambda k: jax.random.bernoulli(k, 1.0 - rate, w.shape))(keys)
    thinned = jnp.where(keep, w * (1.0 / (1.0 - rate)), jnp.zeros((), w.dtype)).astype(w.dtype)
    return jnp.einsum("ni,noi->no", x, thinned) + b


add(
    _pair_keys,
    "dropconnect",
    "per_example_keys_in_pairs",
    "independence",
    "per-example keys from fold_in(key, i // 2): neighbouring examples share their mask",
    "DROPCONNECT-PER-EXAMPLE",
    masks="per_example",
    mask_bias=False,
    inference="mean",
)


def _promoting_mask(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import jax
    import jax.numpy as jnp

    validate(rate)
    if not training:
        return x
    if rate == 1.0:
        return jnp.zeros_like(x)
    keep = jax.random.bernoulli(jax.random.key(seed), 1.0 - rate, x.shape)
    mask = keep.astype(jnp.float32) / jnp.float32(1.0 - rate)  # a float32 (strong) mask
    return x * mask  # promotes float16 and bfloat16 to float32


add(
    _promoting_mask,
    "dropout",
    "float32_mask_promotes",
    "dtype",
    "multiplies by a float32 mask array: half-precision outputs come back as float32",
    "DROPOUT-DTYPE",
    masking="multiply",
)


def _alpha_sign(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import jax
    import jax.numpy as jnp

    validate(rate)
    if training and rate == 1.0:
        raise ValueError("rate 1")
    if not training or rate == 0.0:
        return x
    alpha_p = -ALPHA_PRIME  # +λα
    a = ((1.0 - rate) * (1.0 + rate * alpha_p**2)) ** -0.5
    b = -a * rate * alpha_p
    keep = jax.random.bernoulli(jax.random.key(seed), 1.0 - rate, x.shape)
    y = jnp.where(keep, x.astype(jnp.float64), alpha_p) * a + b
    return y.astype(x.dtype)


add(
    _alpha_sign,
    "alpha_dropout",
    "alpha_prime_sign",
    "scaling",
    "α′ = +λα instead of −λα",
    "ALPHA-VALUES",
)


def _nan_rate(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import jax
    import jax.numpy as jnp

    if rate < 0 or rate >= 1:  # haiku's check, which NaN passes
        raise ValueError(f"rate must be in [0, 1), got {rate!r}")
    if not training:
        return x
    keep = jax.random.bernoulli(
        jax.random.key(seed), 1.0 - rate, (x.shape[0],) + (1,) * (x.ndim - 1)
    )
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype)).astype(x.dtype)


add(
    _nan_rate,
    "drop_path",
    "nan_rate_accepted",
    "edge",
    "validates with `rate < 0 or rate >= 1`, which NaN passes",
    "DROPPATH-RATE-INVALID",
    rate_one="error",
)


def _f16_rate_high(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import jax
    import jax.numpy as jnp

    validate(rate)
    if not training:
        return x
    if rate == 1.0:
        return jnp.zeros_like(x)
    drop = min(1.0, 1.1 * rate) if x.dtype == jnp.float16 else rate  # the f16 kernel
    keep = jax.random.bernoulli(jax.random.key(seed), 1.0 - drop, x.shape)
    return jnp.where(keep, x / jnp.asarray(1.0 - rate, x.dtype), jnp.zeros((), x.dtype))


add(
    _f16_rate_high,
    "dropout",
    "float16_rate_10pct_high",
    "dtype",
    "correct in every dtype but float16, whose kernel drops with probability 1.1·rate",
    "DROPOUT-RATE",
)


MUTANTS: tuple[Mutant, ...] = tuple(M)
