"""Test vectors: a small worked example of every non-statistical clause, computed by the
reference and written as language-neutral JSON.

A vector is one call of an op's reference function: named inputs of a few elements, a rate,
``training``, a seed, the options the clause needs, and what the call returns (the output,
the keep mask or noise it drew, returned weights, a gradient) or the fact that it raises.
The mask is part of the vector because the spec fixes no random generator: an
implementation in another language draws other masks from the same seed, and checks its
arithmetic by applying the vector's mask instead.

The vectors come from the reference alone. What each clause's example calls is declared
here by the clause's kind of requirement (the part of its id after the op's prefix, which
the ops share: ``VALUES``, ``RATE-ZERO``, ...), and what an op's call is made of by the op's
own reference module: ``VECTOR_SHAPES`` (each input's shape), ``VECTOR_OPTIONS`` (a value for
each option a clause needs non-empty), ``VECTOR_CASES`` (examples of clauses of its own) and
``vector_gradient`` (the gradient its GRADIENT clause states, from the call's mask).
A clause no single call can illustrate is listed with the reason (:data:`NO_VECTOR`).

Run ``python -m dropspec.reference.vectors DIR`` to write ``DIR/<op>.json``, one per op, and
``DIR/index.json``; the docs build does this on every build (``docs/_ext``).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .._version import __version__
from ..dtypes import as_dtype, dtype_name
from ..spec import OPS, SPEC_VERSION, Clause, Kind, Op
from ._validation import SpecError

#: The format of the files, for readers that check what they load.
SCHEMA = "dropspec-test-vectors/1"
#: Seeds tried, in order, for an example whose mask should show both kept and dropped units.
SEEDS = range(64)


@dataclass(frozen=True)
class Case:
    """One call of a clause's example, as overrides of the default small call."""

    rate: float = 0.5
    training: bool = True
    dtype: str = "float32"
    options: Mapping[str, Any] = field(default_factory=dict)
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    nonfinite: bool = False  # NaN and infinities in the first input
    transformed: bool = False  # the first input negated, doubled and reversed
    raises: bool = False
    gradient: bool = False
    note: str = ""


_INVALID = (
    Case(rate=-0.5, raises=True),
    Case(rate=1.5, raises=True),
    Case(rate=math.nan, raises=True),
)
_SAME_MASK = (
    Case(note="the first of two calls with one seed"),
    Case(transformed=True, note="the second call: other input, same seed, same mask"),
)

#: Each kind of clause's example, by the part of the clause id after the op's prefix.
CASES: dict[str, tuple[Case, ...]] = {
    "SHAPE": (Case(),),
    "DTYPE": (Case(dtype="float16"), Case(dtype="bfloat16")),
    "DETERMINISTIC": (Case(note="a second call with the same seed returns the same"),),
    "RATE-INVALID": _INVALID,
    "RATE-INVALID-INFERENCE": tuple(replace(c, training=False) for c in _INVALID),
    "INFERENCE-IDENTITY": (Case(training=False),),
    "INFERENCE-CLASSIC": (Case(training=False),),
    "INFERENCE-MEAN": (Case(training=False),),
    "VALUES": (
        Case(),
        Case(rate=0.1, dtype="bfloat16", note="the scale 1/0.9 rounds to 1.109375 in bfloat16"),
    ),
    "RATE-ZERO": (Case(rate=0.0),),
    "DROPPED-SELECT": (Case(nonfinite=True),),
    "DROPPED-MULTIPLY": (Case(nonfinite=True),),
    "GRADIENT": (Case(gradient=True, note="the gradient of sum(y) (a cotangent of ones)"),),
    "RATE-ONE-ZEROS": (Case(rate=1.0),),
    "RATE-ONE-ERROR": (Case(rate=1.0, raises=True),),
    "RATE-ONE": (Case(rate=1.0, raises=True),),
    "SHARED-CONSTANT": (Case(),),
    "PER-EXAMPLE": (Case(),),
    "PER-BATCH": (Case(),),
    "BROADCAST": (Case(),),
    "BIAS-UNMASKED": (Case(),),
    "MASK-VALUE-FREE": _SAME_MASK,
    "NOISE-VALUE-FREE": _SAME_MASK,
    "NO-SWITCH": (Case(training=False, note="the same call with training=True returns this"),),
    "WEIGHTS-BEFORE": (Case(),),
    "WEIGHTS-AFTER": (Case(),),
}

_SEEDED = (
    "the spec fixes no random generator, so a seed has no expected output another "
    "implementation could reproduce; the clause relates a target's own outputs"
)
#: Clauses no vector can illustrate, by the part of their id after the op's prefix: why.
NO_VECTOR: dict[str, str] = {
    "FRESH-OUTPUT": "it is about memory (aliasing, writes to the input), which values in a "
    "data file cannot show",
    "LAYOUT": "it is about memory layouts (strides, views), which values in a data file "
    "cannot show",
    "SEED-PROCESS": _SEEDED,
    "SEED-SPACE": _SEEDED,
    "SEED-PAIRS": _SEEDED,
    "STATE-REPRODUCIBLE": "it is about a layer's state over a sequence of calls, and " + _SEEDED,
    "STATE-INFERENCE": "it is about a layer's state over a sequence of calls, and " + _SEEDED,
    "STATE-GRADIENT": "it is about a layer's state over a sequence of calls, and " + _SEEDED,
    "STATE-STREAMS": "it is about a layer's state over a sequence of calls, and " + _SEEDED,
}


def kind_of(clause: Clause) -> str:
    """The part of a clause id after the op's prefix: ``VALUES`` for ``DROPOUT-VALUES``."""
    return clause.id.split("-", 1)[1]


def has_vector(clause: Clause) -> bool:
    """Whether the clause gets a vector: every non-statistical clause but those in
    :data:`NO_VECTOR`."""
    return clause.kind != Kind.STATISTICAL and kind_of(clause) not in NO_VECTOR


def _module(op: Op) -> ModuleType:
    return importlib.import_module(f"{__package__}.{op.name}")


def cases(clause: Clause) -> tuple[Case, ...]:
    """The calls of the clause's example: the op's own (``VECTOR_CASES``, each call as the
    fields of a :class:`Case`) or the shared ones."""
    own: Mapping[str, Sequence[Mapping[str, Any]]]
    own = getattr(_module(OPS[clause.op]), "VECTOR_CASES", {})
    kind = kind_of(clause)
    if kind in own:
        return tuple(Case(**fields) for fields in own[kind])
    if kind not in CASES:
        raise KeyError(f"{clause.id}: no example declared for {kind!r} and no reason in NO_VECTOR")
    return CASES[kind]


def clause_options(op: Op, clause: Clause, case: Case) -> dict[str, Any]:
    """The op's options for the example: the first value each condition of the clause allows,
    the op's example value for each option the clause needs non-empty, then the case's."""
    module = _module(op)
    chosen: dict[str, Any] = {name: allowed[0] for name, allowed in clause.when.items()}
    nonempty: Mapping[str, Any] = getattr(module, "VECTOR_OPTIONS", {})
    for name in clause.when_not_empty:
        chosen[name] = nonempty[name]
    chosen.update(case.options)
    return op.resolve_options(chosen)


def example_inputs(op: Op, case: Case) -> dict[str, np.ndarray]:
    """Small inputs whose values are checkable by hand: ±1, ±2, ... in row-major order, each
    input starting one further on; with ``nonfinite`` NaN, ∞ and −∞ in the first input's every
    other element; with ``transformed`` the first input negated, doubled and reversed."""
    shapes = {**_module(op).VECTOR_SHAPES, **case.shapes}
    dtype = as_dtype(case.dtype)
    out: dict[str, np.ndarray] = {}
    for index, (name, shape) in enumerate(shapes.items()):
        size = math.prod(shape)
        magnitude = (np.arange(size) + index) % 4 + 1
        sign = np.where(np.arange(size) % 2 == 0, 1.0, -1.0)
        values = (magnitude * sign).astype(np.float64)
        if index == 0 and case.nonfinite:
            values[0::2] = np.resize([math.nan, math.inf, -math.inf], values[0::2].size)
        if index == 0 and case.transformed:
            values = -2.0 * values[::-1]
        out[name] = values.reshape(shape).astype(dtype)
    return out


def _call(
    op: Op,
    inputs: Mapping[str, np.ndarray],
    case: Case,
    options: Mapping[str, Any],
    seed: int,
) -> dict[str, np.ndarray]:
    """The reference's outputs for one call, named: ``y``, ``weights``, ``mask`` (or
    ``mask_<part>``), ``noise``."""
    fn: Callable[..., Any] = getattr(_module(op), op.name)
    params = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in options.items() if k in params}
    extra = "return_mask" if "return_mask" in params else "return_noise"
    # every rate the op takes (recurrent dropout's two) is the case's rate
    args = [case.rate if name.endswith("rate") else inputs[name] for name in op.positional]
    with np.errstate(invalid="ignore"):  # x·0 is NaN for infinite x (DROPPED-MULTIPLY)
        result = fn(*args, training=case.training, seed=seed, **kwargs, **{extra: True})
    *outs, drawn = result
    named = {"y": outs[0]}
    if len(outs) > 1:
        named["weights"] = outs[1]
    label = "mask" if extra == "return_mask" else "noise"
    if isinstance(drawn, Mapping):
        named.update({f"{label}_{k}": v for k, v in drawn.items() if v is not None})
    elif drawn is not None:
        named[label] = drawn
    return named


def _mixed(outputs: Mapping[str, np.ndarray]) -> bool:
    masks = [v for k, v in outputs.items() if k.startswith("mask")]
    return not masks or any(np.any(m) and not np.all(m) for m in masks)


def compute(op: Op, clause: Clause, case: Case) -> dict[str, Any]:
    """One vector: the call and what the reference returns (or that it raises)."""
    options = clause_options(op, clause, case)
    inputs = example_inputs(op, case)
    vector: dict[str, Any] = {
        "clause": clause.id,
        "spec_version": SPEC_VERSION,
        "op": op.name,
        "kind": clause.kind.value,
        "level": clause.level.value,
        "options": _plain(options),
        "rate": _number(case.rate),
        "training": case.training,
        "dtype": case.dtype,
    }
    if case.raises:
        try:
            _call(op, inputs, case, options, 0)
        except SpecError as exc:
            vector.update(seed=0, inputs=_encode_all(inputs), raises=True, error=str(exc))
        else:
            raise AssertionError(f"{clause.id}: the reference does not raise for {case}")
        return _noted(vector, case)
    # The first seed whose mask shows a kept and a dropped unit (an example, not a test);
    # seed 0 where no mask is drawn or none is mixed.
    seed, outputs = 0, _call(op, inputs, case, options, 0)
    mixed = (s for s in SEEDS if _mixed(_call(op, inputs, case, options, s)))
    if not _mixed(outputs) and (found := next(mixed, None)) is not None:
        seed, outputs = found, _call(op, inputs, case, options, found)
    if case.gradient:
        gradient: Callable[..., dict[str, np.ndarray]] = _module(op).vector_gradient
        outputs.update(gradient(inputs, case.rate, options, outputs))
    vector.update(seed=seed, inputs=_encode_all(inputs), raises=False)
    vector["expected"] = _encode_all(outputs)
    return _noted(vector, case)


def _noted(vector: dict[str, Any], case: Case) -> dict[str, Any]:
    if case.note:
        vector["note"] = case.note
    return vector


def op_vectors(op: Op) -> dict[str, Any]:
    """Every vector of one op, and the clauses that have none with the reason."""
    vectors: list[dict[str, Any]] = []
    none: list[dict[str, str]] = []
    for clause in op.clauses:
        if clause.kind == Kind.STATISTICAL:
            continue
        if not has_vector(clause):
            none.append({"clause": clause.id, "reason": NO_VECTOR[kind_of(clause)]})
            continue
        vectors.extend(compute(op, clause, case) for case in cases(clause))
    return {
        "schema": SCHEMA,
        "spec_version": SPEC_VERSION,
        "dropspec_version": __version__,
        "op": op.name,
        "signature": op.signature,
        "vectors": vectors,
        "no_vector": none,
    }


def write(directory: Path, ops: Sequence[Op] | None = None) -> list[Path]:
    """Write ``<op>.json`` for every op and ``index.json`` (the files, their ops and counts)
    into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    index: list[dict[str, Any]] = []
    for op in ops or list(OPS.values()):
        data = op_vectors(op)
        path = directory / f"{op.name}.json"
        path.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        written.append(path)
        index.append({"op": op.name, "file": path.name, "vectors": len(data["vectors"])})
    path = directory / "index.json"
    body = {"schema": SCHEMA, "spec_version": SPEC_VERSION, "files": index}
    path.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    return [*written, path]


# ------------------------------------------------------------------ encoding ----


def _number(value: float) -> float | str:
    """A float as JSON allows it: NaN and the infinities as the strings "NaN", "Infinity"
    and "-Infinity"."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def encode(array: np.ndarray) -> dict[str, Any]:
    """An array as JSON: dtype, shape, values in row-major order and, for floats, each
    value's bit pattern as a hex string (``"0x3c00"`` is 1 in float16)."""
    name = dtype_name(array.dtype)
    flat = np.ascontiguousarray(array).reshape(-1)
    out: dict[str, Any] = {"dtype": name, "shape": list(array.shape)}
    if array.dtype == np.bool_:
        out["values"] = [bool(v) for v in flat]
        return out
    out["values"] = [_number(float(v)) for v in flat]
    width = array.dtype.itemsize
    bits = flat.view(np.dtype(f"uint{8 * width}"))
    out["bits"] = [f"0x{int(b):0{2 * width}x}" for b in bits]
    return out


def decode(entry: Mapping[str, Any]) -> np.ndarray:
    """The array an :func:`encode` entry holds, rebuilt from its bit patterns."""
    dtype = np.dtype(bool) if entry["dtype"] == "bool" else as_dtype(entry["dtype"])
    if dtype == np.bool_:
        return np.array(entry["values"], dtype=bool).reshape(entry["shape"])
    raw = np.array([int(b, 16) for b in entry["bits"]], dtype=f"uint{8 * dtype.itemsize}")
    return raw.view(dtype).reshape(entry["shape"])


def _encode_all(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    return {name: encode(np.asarray(a)) for name, a in arrays.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dropspec.reference.vectors",
        description="Write the test vectors (one JSON file per op, and index.json) to DIR.",
    )
    parser.add_argument("directory", type=Path, metavar="DIR")
    args = parser.parse_args(argv)
    for path in write(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
