"""Dropout written wrongly for a transformation (issue 23): ``jax.jit``, ``jax.vmap``,
``torch.func.vmap`` and ``torch.utils.checkpoint``, each the way such code goes wrong.

Each is a seeded target like any other (``fn(x, rate, *, training, seed)``) whose body uses
the transformation itself, as a user's compiled or vectorised dropout would; the clause it
names catches it with no variant around it. Frameworks are imported inside the functions.
"""

from __future__ import annotations

from typing import Any

from . import Mutant, mutant
from .stateful_mutants import stateful_mutant

M: list[Mutant] = []


def _validate(rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate!r}")


def _jax_keep(x: Any, key: Any, rate: float) -> Any:
    """Inverted dropout of ``x`` with ``key``, dropped slots selected to 0."""
    import jax
    import jax.numpy as jnp

    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    scale = jnp.asarray(0.0 if rate == 1.0 else 1.0 / (1.0 - rate), x.dtype)
    return jnp.where(keep, x * scale, jnp.zeros((), x.dtype))


#: (shape, dtype, rate) -> the function compiled at the first call with that signature.
_COMPILED: dict[tuple[Any, ...], Any] = {}


def _jit_baked_key(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    """jax.jit of a closure over jax.random.key(seed): the key is a constant of the compiled
    function, so every later call with that shape, dtype and rate reuses the first mask."""
    import jax

    _validate(rate)
    if not training:
        return x
    sig = (x.shape, str(x.dtype), rate)
    if sig not in _COMPILED:
        key = jax.random.key(seed)  # baked in at trace time
        _COMPILED[sig] = jax.jit(lambda v: _jax_keep(v, key, rate))
    return _COMPILED[sig](x)


def _vmap_shared_key(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    """jax.vmap over the examples of a dropout closed over one key: every example gets the
    same mask."""
    import jax

    _validate(rate)
    if not training:
        return x
    key = jax.random.key(seed)
    if x.ndim == 0 or x.shape[0] == 0:
        return _jax_keep(x, key, rate)
    return jax.vmap(lambda v: _jax_keep(v, key, rate))(x)


def _jit_seed_narrowed(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    """jax.jit of a dropout whose traced seed is cast to uint32 before the key is made (what
    XLA's stateless RNG does to tf.function(jit_compile=True)'s int64 seeds, found under
    tf.function.xla): seeds that differ only above bit 31 give one mask."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    _validate(rate)
    if not training:
        return x
    sig = ("narrowed", x.shape, str(x.dtype), rate)
    if sig not in _COMPILED:
        _COMPILED[sig] = jax.jit(
            lambda v, s: _jax_keep(v, jax.random.key(s.astype(jnp.uint32)), rate)
        )
    return _COMPILED[sig](x, jnp.asarray(np.int64(seed)))


def _torch_vmap_same(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    """torch.func.vmap(F.dropout, randomness="same"): one mask drawn for the whole batch."""
    import torch
    import torch.nn.functional as F

    from dropspec.adapters.fw_torch import seeded

    with seeded(seed, x):
        if x.dim() == 0 or x.shape[0] == 0:
            return F.dropout(x, rate, training)
        return torch.func.vmap(lambda v: F.dropout(v, rate, training), randomness="same")(x)


def _checkpoint_no_rng(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    """F.dropout under torch.utils.checkpoint with preserve_rng_state=False, the generator
    seeded for the forward only: the backward's recomputation draws a fresh mask."""
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint

    from dropspec.adapters.fw_torch import seeded

    with seeded(seed, x):
        return checkpoint(
            lambda v: F.dropout(v, rate, training),
            x,
            use_reentrant=False,
            preserve_rng_state=False,
        )


for fn, framework, name, fault, description, clauses, options in (
    (
        _jit_baked_key,
        "jax",
        "jit_baked_key",
        "determinism",
        "jax.jit of a closure over the first call's key: the mask never changes after compiling",
        ("DROPOUT-INDEPENDENT-CALLS", "DROPOUT-INDEPENDENT-SEEDS"),
        {"rate_one": "zeros"},
    ),
    (
        _jit_seed_narrowed,
        "jax",
        "jit_seed_narrowed",
        "determinism",
        "jax.jit of a dropout whose traced int64 seed is cast to uint32: seeds s and s + 2^32 "
        "give one mask",
        ("DROPOUT-SEED-SPACE",),
        {"rate_one": "zeros", "seed_bits": 63},
    ),
    (
        _vmap_shared_key,
        "jax",
        "vmap_shared_key",
        "independence",
        "jax.vmap over examples of a dropout closed over one key: every example's mask is the same",
        ("DROPOUT-INDEPENDENT-AXES",),
        {"rate_one": "zeros"},
    ),
    (
        _torch_vmap_same,
        "torch",
        "vmap_randomness_same",
        "independence",
        "torch.func.vmap(F.dropout, randomness='same'): one mask shared by every example",
        ("DROPOUT-INDEPENDENT-AXES",),
        {"rate_one": "zeros", "masking": "multiply"},
    ),
    (
        _checkpoint_no_rng,
        "torch",
        "checkpoint_no_rng_state",
        "gradient",
        "torch.utils.checkpoint(preserve_rng_state=False): the recomputed forward draws a new mask",
        ("DROPOUT-GRADIENT",),
        {"rate_one": "zeros", "masking": "multiply"},
    ),
):
    M.append(
        mutant(
            fn,
            "dropout",
            framework=framework,
            name=name,
            fault_class=fault,
            description=description,
            clauses=clauses,
            **options,
        )
    )


# Layers (the stateful convention) gone wrong the way compiled training steps go wrong.


def _torch_generator(seed: int) -> Any:
    import torch

    return torch.Generator().manual_seed(seed & ((1 << 63) - 1))


def _torch_mask(x: Any, gen: Any, rate: float) -> Any:
    import torch

    keep = torch.rand(x.shape, generator=gen, dtype=torch.float64) >= rate
    return keep.to(x.dtype) * (0.0 if rate == 1.0 else 1.0 / (1.0 - rate))


def compiled_frozen_mask(rate: float, *, seed: int) -> Any:
    """torch: its training step is built once per input signature with the mask drawn while
    building it, a constant of the step (a mask captured when a function is traced or
    compiled); every later call applies that mask."""
    _validate(rate)
    gen = _torch_generator(seed)
    steps: dict[tuple[Any, ...], Any] = {}

    def layer(x: Any, *, training: bool) -> Any:
        if not training:
            return x.clone()
        sig = (tuple(x.shape), x.dtype)
        if sig not in steps:
            mask = _torch_mask(x, gen, rate)  # drawn once, at "compile" time
            steps[sig] = lambda v: v * mask
        return steps[sig](x)

    return layer


def recompute_draws_afresh(rate: float, *, seed: int) -> Any:
    """torch: the backward recomputes the mask instead of saving it, drawing it again from
    the layer's generator (what the memory-budget partitioner does with torch.compile at an
    activation_memory_budget below 1, pytorch#190758): the gradient uses a fresh mask."""
    import torch

    _validate(rate)
    gen = _torch_generator(seed)

    class Recomputed(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * _torch_mask(x, gen, rate)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return grad * _torch_mask(grad, gen, rate)  # recomputed: a new draw

    def layer(x: Any, *, training: bool) -> Any:
        return Recomputed.apply(x) if training else x.clone()

    return layer


def jit_step_splits_at_inference(rate: float, *, seed: int) -> Any:
    """jax: each call is one jitted step that splits the layer's key before it looks at the
    training switch, as nnx.split_rngs does around nnx.vmap: an inference call advances the
    state, so the training masks after an evaluation are not those without it."""
    import jax

    _validate(rate)
    state = [jax.random.key(seed & ((1 << 63) - 1))]

    def split_then_drop(key: Any, x: Any, training: bool) -> Any:
        key, sub = jax.random.split(key)  # drawn whether or not it drops
        return key, (_jax_keep(x, sub, rate) if training else x)

    step = jax.jit(split_then_drop, static_argnums=2)

    def layer(x: Any, *, training: bool) -> Any:
        state[0], y = step(state[0], x, bool(training))
        return y

    return layer


M += [
    stateful_mutant(
        jit_step_splits_at_inference,
        framework="jax",
        clauses="DROPOUT-STATE-INFERENCE",
        seed_bits=63,
    ),
    stateful_mutant(compiled_frozen_mask, framework="torch", clauses="DROPOUT-STATE-CALLS"),
    stateful_mutant(
        recompute_draws_afresh,
        framework="torch",
        clauses="DROPOUT-STATE-GRADIENT",
        fault_class="gradient",
    ),
]

MUTANTS: tuple[Mutant, ...] = tuple(M)
