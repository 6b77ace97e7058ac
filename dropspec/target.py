"""Targets: an implementation under test, with the op it claims and the options it declares.

A target never raises at declaration time: a bad declaration (unknown op or option, a
signature that does not match the op) is kept in :attr:`Target.error`, so that a run checking
several targets records the problem against this one and goes on with the others.
"""

from __future__ import annotations

import inspect
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .frameworks import FRAMEWORKS
from .spec import get_op


@dataclass(frozen=True)
class Keyword:
    """A declaration every target takes beside its op's options (a keyword argument of
    :func:`make_target` and :func:`target`, and an attribute of :class:`Target`)."""

    name: str
    #: The default as ``dropspec explain`` and the docs show it.
    default: str
    #: Its type, as the docstrings write it.
    type: str
    doc: str


#: Every target keyword, declared once: :func:`make_target` takes exactly these (a test holds
#: its signature to them), :func:`target` passes them on, :meth:`Target.with_options` copies
#: them, and ``dropspec explain`` and :func:`target`'s docstring are written from them.
TARGET_KEYWORDS: tuple[Keyword, ...] = (
    Keyword(
        "framework",
        "'numpy'",
        "str",
        "The arrays the function takes and returns: one of the frameworks' rows ("
        + ", ".join(FRAMEWORKS)
        + ").",
    ),
    Keyword(
        "name",
        "None",
        "str or None",
        "The name in reports; None names the target after the function's qualified name.",
    ),
    Keyword(
        "dtypes",
        "None",
        "tuple of str or None",
        "A tuple of the float dtypes to check (float16, bfloat16, float32, float64); None "
        "checks every dtype the framework supports.",
    ),
    Keyword(
        "seed_bits",
        "64",
        "int",
        "The target takes every seed in [0, 2**seed_bits); the suite passes seeds across that "
        "range and flips each of their bits (*-INDEPENDENT-SEEDS). Declare 63 for "
        "jax.random.key(seed) or int64 TensorFlow seeds, 32 for numpy.random.seed(seed).",
    ),
    Keyword(
        "expected_failures",
        "{}",
        "mapping of str to str",
        "Clause id -> reason (with an upstream link where there is one) for violations known "
        "and accepted for now: reported as declared divergences, not as failures.",
    ),
    Keyword(
        "expected_failure_dtypes",
        "{}",
        "mapping of str to tuple of str",
        "Clause id -> dtypes, for an expected failure of a statistical clause seen only in "
        "some dtypes (a half-precision kernel): the clause still runs in every dtype and "
        "fails if another dtype fails.",
    ),
    Keyword(
        "requires",
        "()",
        "tuple of str",
        "Modules the target needs beyond its framework (e.g. ('flax',)); where one is not "
        "installed, its clauses are reported as not checked, with the pip command.",
    ),
    Keyword(
        "env",
        "{}",
        "mapping of str to str",
        "Environment variables the target needs at import time (e.g. KERAS_BACKEND); where "
        "they are not set so, its clauses are reported as not checked (dropspec sets them "
        "in the worker processes of built-in targets).",
    ),
    Keyword(
        "description",
        "''",
        "str",
        "What the target wraps, e.g. torch.nn.functional.dropout; shown in reports and by "
        "`dropspec list --json`.",
    ),
    Keyword(
        "variants",
        "()",
        "tuple of str",
        "Transformations the target is also checked under, each as its own row 'TARGET under "
        "VARIANT' (e.g. ('jit', 'vmap') for a JAX target; `dropspec list` names them all): "
        "`dropspec check` and the pytest plugin add them, as `--under` adds more.",
    ),
)


@dataclass(frozen=True)
class Target:
    """An implementation of one op of the spec, as the suite sees it.

    Attributes
    ----------
    name : str
        How reports and the matrix name it.
    op : str
        The op it implements (``"dropout"``, ``"dropconnect"``, ...).
    framework : str
        Which arrays it takes and returns: ``numpy``, ``torch``, ``tensorflow`` or ``jax``.
    options : Mapping
        The declared options with the op's defaults filled in.
    fn : callable
        ``fn(x, rate, *, training, seed)``, or ``fn(x, weight, bias, rate, *, training, seed)``
        for dropconnect.
    expected_failures : Mapping
        Clause id -> reason (with an upstream link where one exists) for known violations.
    expected_failure_dtypes : Mapping
        Clause id -> the dtypes the expected failure is confined to (statistical clauses,
        which run per dtype): the clause still runs in every dtype and fails if any other
        dtype fails. A clause absent here is expected to fail as a whole.
    dtypes : tuple of str or None
        The dtypes to check; None means every dtype the framework supports.
    env : Mapping
        Environment variables the target needs at import time (e.g. ``KERAS_BACKEND``).
    description : str
        What it wraps, e.g. ``torch.nn.functional.dropout``.
    error : str or None
        Why the declaration is unusable, if it is.
    requires : tuple of str
        Modules the target needs beyond its framework; a missing one leaves its clauses
        not checked (the run exits 3, or 4 with ``--allow-missing``).
    seed_bits : int
        The seeds it takes: every integer in [0, 2**seed_bits). 64 unless declared; the
        suite passes seeds across that whole range and flips each of their bits.
    variants : tuple of str
        Transformations the runs that check it also check it under (see
        :mod:`dropspec.adapters`, ``"<name> under <variant>"``).
    """

    name: str
    op: str
    framework: str
    options: Mapping[str, Any]
    fn: Callable[..., Any]
    expected_failures: Mapping[str, str] = field(default_factory=dict)
    expected_failure_dtypes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dtypes: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    error: str | None = None
    requires: tuple[str, ...] = ()
    seed_bits: int = 64
    #: Variants declared on the target (the keyword ``variants``): the runs that check it
    #: also check ``"<name> under <variant>"`` for each.
    variants: tuple[str, ...] = ()
    #: How the target was named when loaded (``file.py:fn``), for replay commands.
    source: str = ""
    #: The module whose import declared the target (see :func:`declared_in`); '' where no
    #: import re-creates it (a target made in a function, a script, a file loaded by path).
    origin: str = ""
    #: For a layer that owns its random state (declared with :func:`stateful_target`,
    #: option ``calls="stateful"``): ``factory(rate, *, seed) -> layer``, each layer called
    #: as ``layer(*arrays, training=...)``; :attr:`fn` is then the seeded convention
    #: derived from it. None for a seeded target.
    factory: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def with_options(self, **options: Any) -> Target:
        """A copy declaring ``options`` on top of this target's (used by tests)."""
        declared = {k.name: getattr(self, k.name) for k in TARGET_KEYWORDS}
        merged = {**self.options, **options}
        if self.factory is not None:
            merged.pop("calls", None)
            return make_stateful_target(self.factory, self.op, **declared, **merged)
        return make_target(self.fn, self.op, **declared, **merged)

    def renamed(self, name: str) -> Target:
        return replace(self, name=name)


def _signature_problem(fn: Callable[..., Any], positional: tuple[str, ...]) -> str | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # builtins without a signature: trust them, the call will tell
    args = [object()] * len(positional)
    try:
        sig.bind(*args, training=True, seed=0)
    except TypeError as exc:
        return (
            f"its signature {sig} does not accept the op's call "
            f"fn({', '.join(positional)}, *, training, seed): {exc}"
        )
    return None


#: The dtypes a target may restrict itself to (``dropspec.dtypes.FLOAT_DTYPES``, which needs
#: NumPy; kept here as names so that declaring a target imports nothing heavy).
KNOWN_DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")


def _declaration_problems(options: Mapping[str, Any], dtypes: Any) -> list[str]:
    """What is wrong with a declaration beyond its op's option checks: said once, up front."""
    problems = []
    if dtypes is not None:
        if isinstance(dtypes, str) or not isinstance(dtypes, tuple | list):
            problems.append(
                f"dtypes must be a tuple of dtype names such as "
                f"('float32', 'float64'), got {dtypes!r}"
            )
        else:
            bad = [d for d in dtypes if d not in KNOWN_DTYPES]
            if bad:
                problems.append(
                    f"dtypes names unknown dtype(s) {', '.join(map(repr, bad))}; "
                    f"use {', '.join(KNOWN_DTYPES)}"
                )
            elif not dtypes:
                problems.append("dtypes is empty; leave it out to check every dtype")
    rank, axes = options.get("rank"), options.get("shared_axes") or ()
    if isinstance(rank, int) and axes:
        out_of_range = [a for a in axes if not -rank <= a < rank]
        if out_of_range:
            problems.append(
                f"shared_axes {tuple(axes)} has axes outside rank {rank} "
                f"({', '.join(map(str, out_of_range))}); axes run from "
                f"{-rank} to {rank - 1}"
            )
    return problems


def _scope_problems(
    expected: Mapping[str, str], scopes: Mapping[str, tuple[str, ...]]
) -> list[str]:
    """What is wrong with ``expected_failure_dtypes``: every key an expected failure of a
    statistical clause (those run per dtype), every value a non-empty tuple of known dtypes."""
    from .spec import CLAUSES
    from .spec._model import Kind

    problems = []
    for cid, dtypes in scopes.items():
        if cid not in expected:
            problems.append(
                f"expected_failure_dtypes names {cid}, which expected_failures does not "
                f"declare; give its reason there"
            )
        elif CLAUSES[cid].kind is not Kind.STATISTICAL:
            problems.append(
                f"expected_failure_dtypes can confine only statistical clauses (run once per "
                f"dtype) to dtypes; {cid} is {CLAUSES[cid].kind}: declare it for every dtype"
            )
        if isinstance(dtypes, str) or not isinstance(dtypes, tuple | list) or not dtypes:
            problems.append(
                f"expected_failure_dtypes[{cid!r}] must be a non-empty tuple of dtype names "
                f"such as ('float16',), got {dtypes!r}"
            )
        elif any(d not in KNOWN_DTYPES for d in dtypes):
            bad = ", ".join(repr(d) for d in dtypes if d not in KNOWN_DTYPES)
            problems.append(
                f"expected_failure_dtypes[{cid!r}] names unknown dtype(s) {bad}; "
                f"use {', '.join(KNOWN_DTYPES)}"
            )
    return problems


def make_target(
    fn: Callable[..., Any],
    op: str,
    *,
    framework: str = "numpy",
    name: str | None = None,
    dtypes: tuple[str, ...] | list[str] | None = None,
    seed_bits: int = 64,
    expected_failures: Mapping[str, str] | None = None,
    expected_failure_dtypes: Mapping[str, tuple[str, ...]] | None = None,
    requires: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    description: str = "",
    variants: tuple[str, ...] | list[str] = (),
    **options: Any,
) -> Target:
    """Declare ``fn`` as an implementation of ``op`` (see :func:`target`); its keywords are
    :data:`TARGET_KEYWORDS`, in that order."""
    label = name or getattr(fn, "__qualname__", None) or repr(fn)
    problems: list[str] = []
    resolved: dict[str, Any] = dict(options)
    try:
        spec = get_op(op)
        resolved = spec.resolve_options(options)
        sig_problem = _signature_problem(fn, spec.positional)
        if sig_problem:
            problems.append(sig_problem)
    except ValueError as exc:
        problems.append(str(exc))
    problems += _declaration_problems(resolved, dtypes)
    if resolved.get("calls") == "stateful":
        problems.append(
            "calls='stateful' is declared by dropspec.stateful_target, which takes the "
            "layer's factory(rate, *, seed); a seeded function leaves calls out"
        )
    if isinstance(seed_bits, bool) or not isinstance(seed_bits, int) or not 1 <= seed_bits <= 64:
        problems.append(
            f"seed_bits must be an int from 1 to 64 (the target takes every seed in "
            f"[0, 2**seed_bits)), got {seed_bits!r}"
        )
        seed_bits = 64
    if isinstance(variants, str) or not all(isinstance(v, str) and v for v in variants):
        problems.append(
            f"variants must be a tuple of variant names such as ('jit', 'vmap'), got {variants!r}"
        )
        variants = ()
    if framework not in FRAMEWORKS:
        problems.append(f"unknown framework {framework!r}; use one of {', '.join(FRAMEWORKS)}")
    if not callable(fn):
        problems.append(f"{fn!r} is not callable")
    from .spec import CLAUSES

    unknown = sorted(set(expected_failures or {}) - set(CLAUSES))
    if unknown:
        problems.append(f"expected_failures names unknown clauses {', '.join(unknown)}")
    problems += _scope_problems(expected_failures or {}, expected_failure_dtypes or {})
    made = Target(
        name=label,
        op=op,
        framework=framework,
        options=resolved,
        fn=fn,
        expected_failures=dict(expected_failures or {}),
        expected_failure_dtypes={k: tuple(v) for k, v in (expected_failure_dtypes or {}).items()},
        dtypes=None if dtypes is None else tuple(dtypes),
        env=dict(env or {}),
        description=description,
        requires=tuple(requires),
        seed_bits=seed_bits,
        variants=tuple(dict.fromkeys(variants)),
        error=f"target {label!r}: " + "; ".join(problems) if problems else None,
        origin=_declaring_module(),
    )
    if made.origin:
        _DECLARED.setdefault(made.origin, []).append(made)
    return made


#: Module name -> the targets declared while it was imported, in order (see
#: :func:`declared_in`): as many as its import declares, once.
_DECLARED: dict[str, list[Target]] = {}


def _declaring_module() -> str:
    """The module whose body is running the declaration: the innermost module-level frame
    on the stack. A target declared at import time (directly or through helpers) gets the
    name of the module whose import declares it, so another process that imports that
    module declares it again; a target made later, from a function, finds only the
    script's frame (``__main__``), a frame of code run by ``exec`` that no import can
    repeat (pytest-xdist's workers run tests under ``__channelexec__``), or none, and gets
    ''. So does one loaded by path (``dropspec.adapters.load_target`` names those by their
    path instead)."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "<module>":
            name = str(frame.f_globals.get("__name__", ""))
            importable = name in sys.modules and name != "__main__"
            return name if importable and not name.startswith("_dropspec_user_") else ""
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def declared_in(module: str) -> list[Target]:
    """The targets declared while ``module`` was imported (import it first), in the order
    its import declared them: the same order in every process that imports it."""
    return list(_DECLARED.get(module, ()))


def make_stateful_target(factory: Callable[..., Any], op: str, **declarations: Any) -> Target:
    """Declare a layer that owns its random state as an implementation of ``op`` (see
    :func:`stateful_target`); ``declarations`` are :data:`TARGET_KEYWORDS` and the op's
    options."""
    if "calls" in declarations:
        label = declarations.get("name") or getattr(factory, "__qualname__", repr(factory))
        return Target(
            name=str(label),
            op=op,
            framework=str(declarations.get("framework", "numpy")),
            options={},
            fn=factory,
            error=f"target {label!r}: stateful_target declares calls='stateful' itself; "
            f"leave calls out",
        )

    def seeded(*args: Any, training: bool, seed: int) -> Any:
        # The seeded convention (every clause but the state ones): a layer built for the
        # call from the seed, called once.
        *arrays, rate = args
        return factory(rate, seed=seed)(*arrays, training=training)

    declarations.setdefault("name", getattr(factory, "__qualname__", None) or repr(factory))
    seeded.__qualname__ = str(declarations["name"])
    made = make_target(seeded, op, **declarations)
    problems = [made.error] if made.error else []
    problem = _factory_problem(factory)
    if problem:
        problems.append(f"target {made.name!r}: {problem}")
    try:
        stateful_ops = "calls" in {o.name for o in get_op(op).options}
    except ValueError:
        stateful_ops = True  # the unknown op is made's error already
    if not stateful_ops:
        problems.append(
            f"target {made.name!r}: op {op!r} has no option 'calls': its state clauses are "
            f"not written yet, so a stateful {op} cannot be checked"
        )
    stateful = replace(
        made,
        options={**made.options, "calls": "stateful"},
        factory=factory,
        error="; ".join(problems) or None,
    )
    # The module's import declares this target, not the seeded one made on the way.
    declared = _DECLARED.get(made.origin, [])
    for i, t in enumerate(declared):
        if t is made:
            declared[i] = stateful
    return stateful


def _factory_problem(factory: Callable[..., Any]) -> str | None:
    if not callable(factory):
        return f"{factory!r} is not callable"
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    try:
        sig.bind(0.5, seed=0)
    except TypeError as exc:
        return (
            f"its factory's signature {sig} does not accept factory(rate, *, seed), "
            f"which builds the layer: {exc}"
        )
    return None


def stateful_target(op: str, **declarations: Any) -> Callable[[Callable[..., Any]], Target]:
    """Decorator declaring a layer that owns its random state as an implementation of ``op``.

    The decorated function is the layer's factory: ``factory(rate, *, seed)`` builds one
    instance, its random state seeded once from ``seed`` (the framework's initial seed: a
    generator, a ``SeedGenerator``, an ``nnx.Rngs``, a key the layer threads itself), and
    returns ``layer``, called as ``layer(x, *, training)`` (DropConnect:
    ``layer(x, weight, bias, *, training)``) again and again without a seed, as a training
    loop calls it. Every clause of ``op`` is checked on
    ``factory(rate, seed=seed)(x, training=training)``, and the state clauses
    (``*-STATE-*``) on sequences of calls of one instance. The keywords are those of
    :func:`target`; the option ``calls`` is set to ``"stateful"``.

    Examples
    --------
    >>> import numpy as np
    >>> import dropspec
    >>> @dropspec.stateful_target("dropout")
    ... def my_layer(rate, *, seed):
    ...     rng = np.random.default_rng(seed)
    ...     def layer(x, *, training):
    ...         if not training:
    ...             return x.copy()
    ...         keep = rng.random(x.shape) >= rate
    ...         return np.where(keep, x / x.dtype.type(1 - rate), np.zeros((), x.dtype))
    ...     return layer
    >>> my_layer.options["calls"]
    'stateful'
    """

    def wrap(factory: Callable[..., Any]) -> Target:
        return make_stateful_target(factory, op, **declarations)

    return wrap


def target(op: str, **declarations: Any) -> Callable[[Callable[..., Any]], Target]:
    # The docstring is written below from TARGET_KEYWORDS.
    def wrap(fn: Callable[..., Any]) -> Target:
        return make_target(fn, op, **declarations)

    return wrap


def _target_doc() -> str:
    keywords = "".join(
        f"    {k.name} : {k.type}, optional\n"
        + textwrap.fill(
            f"{k.doc} Default {k.default}.",
            92,
            initial_indent="        ",
            subsequent_indent="        ",
        )
        + "\n"
        for k in TARGET_KEYWORDS
    )
    return f"""Decorator declaring a function as an implementation of ``op``.

    Parameters
    ----------
    op : str
        One of the spec's ops: ``dropout``, ``alpha_dropout``, ``gaussian_dropout``,
        ``dropconnect``, ``drop_path``.
{keywords}    **options
        The op's declared options, e.g. ``scaling="classic"``, ``shared_axes=(2, 3)``.

    Examples
    --------
    >>> import dropspec
    >>> @dropspec.target("dropout", scaling="inverted")
    ... def my_dropout(x, rate, *, training, seed):
    ...     return dropspec.reference.dropout(x, rate, training=training, seed=seed)
    >>> my_dropout.op
    'dropout'
    """


target.__doc__ = _target_doc()
