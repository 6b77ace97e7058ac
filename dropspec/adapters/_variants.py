"""Transformations as target variants: a target checked inside ``jax.jit``, ``jax.vmap``,
``jax.checkpoint``, ``torch.func.vmap``, ``torch.utils.checkpoint`` or ``tf.function``.

A :class:`Variant` only translates. ``wrap`` turns a target's function into one that runs the
same call inside the transformation, with the suite's seed still an argument of each call; the
op, the options and every clause stay as they are, so the wrapped target is checked by every
clause of its op. It is named ``"<target> under <variant>"`` in the matrix and the report, and
``dropspec check 'flax.nnx.Dropout under jit'`` (or ``dropspec check TARGET --under jit``)
loads it by that name, for a built-in target or a user's alike.

Each framework's adapter module declares its variants (``VARIANTS``) beside its targets, and
the ones ``dropspec check --all`` runs by default (``DEFAULT_VARIANTS``: built-in target names
joined with a variant); :func:`variants` and :func:`default_set` collect them in matrix order,
as :func:`~dropspec.adapters.builtin_targets` collects the targets. What each passes through its
transformation is what makes it a test (the seed traced, one seed per example, a recomputed
forward): see the adapter modules and ``docs/transformed.md``.

A target a variant cannot wrap (one that needs its seed as a Python int, or whose rank or
shared axes a map over examples would change) is reported as not checked, with the reason:
a static reason (:attr:`Variant.refuses`, :attr:`Variant.not_wrappable`), or, for a variant
that traces, the tracer's error on a probe call made when the variant is loaded.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..frameworks import adapter_modules
from ..target import Target

#: How a variant's name joins its target's: ``"flax.nnx.Dropout under jit"``.
JOIN = " under "

Wrapped = Callable[..., Any]


def _no_refusal(t: Target) -> str:
    return ""


@dataclass(frozen=True)
class Variant:
    """A transformation a target of ``framework`` can be checked under."""

    name: str
    framework: str
    #: What the wrapped call does, one sentence (reports, the docs page).
    doc: str
    #: What the framework documents for dropout under the transformation (the docs page).
    promise: str
    #: ``wrap(target) -> fn``: the target's call run inside the transformation.
    wrap: Callable[[Target], Wrapped]
    #: It traces the call with the seed as a traced value: a probe call tells whether the
    #: target can take one.
    traced: bool = True
    #: ``refuses(target) -> reason``: why the variant cannot wrap it ('' where it can).
    refuses: Callable[[Target], str] = _no_refusal
    #: Built-in targets (by name) -> why they cannot be checked under the variant: they stay
    #: "not checked" with that reason (``--variants all`` leaves them out; the docs list them).
    not_wrappable: Mapping[str, str] = field(default_factory=dict)
    #: Built-in targets (by name) -> clause id -> reason: divergences found under the variant,
    #: declared as expected failures of the variant target (on top of the target's own).
    divergences: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: Built-in targets (by name) -> clause id -> the dtypes a statistical divergence above
    #: is confined to (as a target's ``expected_failure_dtypes``).
    divergence_dtypes: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    #: Built-in targets (by name) -> clause id -> what was observed: expected failures of the
    #: target that do not occur under the variant (dropped there, where they would be stale).
    holds: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: ``wrap_layer(target) -> factory``: for a layer that owns its state (``calls="stateful"``),
    #: a factory whose layers run each call inside the transformation, as a training step
    #: does. None where the variant does not apply to a layer: the state clauses are then not
    #: applicable under it (the seeded clauses still run, through the wrapped call).
    wrap_layer: Callable[[Target], Callable[..., Any]] | None = None
    #: ``confirm(wrapped) -> reason``: a probe call of the wrapped target telling why the
    #: transformation did not take effect ('' where it did), e.g. a compiler that fell back to
    #: running the call eagerly. The variant is then not checked, never passed on eager code.
    confirm: Callable[[Target], str] | None = None
    #: The built-in targets ``--variants all`` runs the variant on; None: every one it can wrap.
    #: A costly variant (a compiler) names a few, for its cost; ``--under`` runs it on any.
    all_set: tuple[str, ...] | None = None
    #: Its ``wrap_layer`` builds a layer from the int seed outside the transformation, so it
    #: also wraps the stateful targets that need an environment of their own (Keras layers,
    #: whose seed must be a Python int): ``--variants all`` runs those too.
    env_layers: bool = False


def split(spec: str) -> tuple[str, str | None]:
    """``"TARGET under VARIANT"`` -> (``TARGET``, ``VARIANT``); a plain spec -> (spec, None)."""
    base, sep, variant = spec.rpartition(JOIN)
    return (base, variant.strip()) if sep and base else (spec, None)


def joined(spec: str, variant: str) -> str:
    return f"{spec}{JOIN}{variant}"


def rate_key(rate: Any) -> str:
    """A rate as a key of a cache of compiled functions: a NaN rate is one key (NaN != NaN),
    and 0.5 and np.float32(0.5) compile apart."""
    return f"{type(rate).__name__}:{rate!r}"


def _present_modules() -> list[Any]:
    return [
        importlib.import_module(m)
        for m in adapter_modules()
        if importlib.util.find_spec(m) is not None
    ]


def variants() -> dict[str, Variant]:
    """Every variant by name, from the adapter modules' ``VARIANTS`` (frameworks not imported)."""
    return {v.name: v for module in _present_modules() for v in getattr(module, "VARIANTS", ())}


def default_set() -> list[str]:
    """The variant targets ``dropspec check --all`` runs by default: each adapter module's
    ``DEFAULT_VARIANTS``, in matrix order."""
    return [s for module in _present_modules() for s in getattr(module, "DEFAULT_VARIANTS", ())]


def maps_examples(t: Target) -> str:
    """Why a map over ``t``'s leading axis (one call per example) would change what ``t``
    declares, '' where it would not: the op must take ``(x, rate)`` with no clause about
    whole examples, and declare no rank or shared axes (each call sees one axis fewer)."""
    from ..spec import get_op

    op = get_op(t.op)
    if op.positional != ("x", "rate") or any(c.id.endswith("-PER-EXAMPLE") for c in op.clauses):
        return (
            f"{t.op} is not elementwise over examples: mapped over them, a target of it "
            f"would be another op (its masks per example or per batch would change)"
        )
    if t.options.get("shared_axes") or t.options.get("rank") is not None:
        return (
            "the target declares a rank or shared axes; mapped over examples, each call sees "
            "one axis fewer, so its axes would mean others"
        )
    return ""


_TRACER_ERRORS = {
    "ConcretizationTypeError",
    "TracerIntegerConversionError",
    "TracerBoolConversionError",
    "TracerArrayConversionError",
    "OperatorNotAllowedInGraphError",
}


def probe_input(t: Target) -> Any:
    """A small framework array of ones for a probe call of ``t`` (rank as it declares)."""
    import numpy as np

    from ._backend import get_backend

    shape = (2, 3, 4, 5, 6)[: t.options.get("rank") or 2]
    return get_backend(t.framework).asarray(np.ones(shape, "f4"))


def _probe(v: Variant, t: Target, fn: Wrapped) -> str:
    """One small training call through ``fn``: the tracer's error if the target cannot take a
    traced seed (the variant is then not checked, with that reason), else ''. Any other error
    is left to the checks, which report it as the failure it is."""
    from ..spec import get_op

    if not v.traced or len(get_op(t.op).positional) != 2:
        return ""  # a layer's shapes are the checks' to draw
    try:
        fn(probe_input(t), 0.5, training=True, seed=1)
    except Exception as exc:
        if {c.__name__ for c in type(exc).__mro__} & _TRACER_ERRORS:
            first = (str(exc).strip().splitlines() or [""])[0]
            return (
                f"under {v.name} the seed is traced, and the target needs a concrete one "
                f"({type(exc).__name__}: {first})"
            )
    return ""


def under(t: Target, name: str, *, probe: bool = True) -> Target:
    """``t`` checked under variant ``name``: the same op, options and clauses, the call run
    inside the transformation; where it cannot be, a target whose :attr:`Target.error` says
    why (its clauses are then reported as not checked). ``probe=False`` skips the probe call
    (nothing of the framework runs)."""
    label = joined(t.name, name)
    source = joined(t.source, name) if t.source else label
    known = variants()
    v = known.get(name)
    if v is None:
        why = f"unknown variant {name!r}; use one of {', '.join(known)}"
        return replace(t, name=label, source=source, variants=(), error=f"target {label!r}: {why}")
    held = v.holds.get(t.name, {})
    made = replace(
        t,
        name=label,
        source=source,
        variants=(),
        fn=v.wrap(t),
        factory=None if t.factory is None or v.wrap_layer is None else v.wrap_layer(t),
        description=f"{t.description} — under {name}: {v.doc}".lstrip(" —"),
        expected_failures={
            cid: reason
            for cid, reason in {**t.expected_failures, **v.divergences.get(t.name, {})}.items()
            if cid not in held
        },
        expected_failure_dtypes={
            cid: dtypes
            for cid, dtypes in {
                **t.expected_failure_dtypes,
                **v.divergence_dtypes.get(t.name, {}),
            }.items()
            if cid not in held
        },
    )
    why = (
        t.error
        or (
            f"variant {name} is for {v.framework} targets; {t.name} is a {t.framework} target"
            if t.framework != v.framework
            else ""
        )
        or v.not_wrappable.get(t.name, "")
        or v.refuses(t)
    )
    if not why and probe:
        why = _probe(v, t, made.fn) or (v.confirm(made) if v.confirm else "")
    return replace(made, error=f"target {label!r}: not checked: {why}") if why else made


def declared(specs: list[str], targets: Mapping[str, Target]) -> list[str]:
    """``specs`` with, after each plain one, the variants its target declares (``variants=``),
    as ``"SPEC under VARIANT"``; ``targets`` maps the specs known here to their targets."""
    out: list[str] = []
    for s in specs:
        out.append(s)
        t = targets.get(s)
        if t is not None and split(s)[1] is None:
            out += [joined(s, v) for v in t.variants]
    return list(dict.fromkeys(out))


def supported(builtins: Mapping[str, Target]) -> list[str]:
    """Every built-in target joined with each variant of its framework that can wrap it
    statically (``--variants all``), in the order of the built-in targets. Targets that need
    an environment of their own (Keras, whose backend is chosen at import) are left out: their
    layers take the seed as a Python int; but their stateful layers are in under a variant
    that builds layers outside the transformation (:attr:`Variant.env_layers`)."""
    known = variants().values()
    return [
        joined(n, v.name)
        for n, t in builtins.items()
        for v in known
        if v.framework == t.framework
        and (not t.env or (v.env_layers and t.factory is not None))
        and not t.error
        and n not in v.not_wrappable
        and (v.all_set is None or n in v.all_set)
        and not v.refuses(t)
    ]
