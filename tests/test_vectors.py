"""The published test vectors hold what the reference computes, and every clause that is not
statistical has one or a stated reason for having none.

The files are read back the way an implementer in another language would: through plain
``json`` (strict: no NaN or Infinity tokens), each array rebuilt with NumPy from its dtype and
bit patterns, never through dropspec's own decoding. Each call is then made again on the
reference and its outputs compared bit for bit; a few clauses are also checked against
their own text from the file's numbers alone.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import dropspec.reference
from dropspec.reference import vectors
from dropspec.spec import OPS, SPEC_VERSION, Kind


def _strict(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("vectors")
    assert vectors.main([str(folder)]) == 0
    index = json.loads((folder / "index.json").read_text(), parse_constant=_strict)
    assert [f["op"] for f in index["files"]] == list(OPS)
    return {
        f["op"]: json.loads((folder / f["file"]).read_text(), parse_constant=_strict)
        for f in index["files"]
    }


def rebuild(entry: dict[str, Any]) -> np.ndarray:
    """The array, from its dtype and bit patterns; its decimal values must say the same."""
    if entry["dtype"] == "bool":
        assert "bits" not in entry
        return np.array(entry["values"], dtype=bool).reshape(entry["shape"])
    dtype = np.dtype(ml_dtypes.bfloat16 if entry["dtype"] == "bfloat16" else entry["dtype"])
    bits = np.array([int(b, 16) for b in entry["bits"]], dtype=f"uint{8 * dtype.itemsize}")
    assert all(len(b) == 2 + 2 * dtype.itemsize for b in entry["bits"])
    array = bits.view(dtype).reshape(entry["shape"])
    for value, stated in zip(array.reshape(-1).astype(np.float64), entry["values"], strict=True):
        if isinstance(stated, str):
            assert stated == (
                "NaN" if math.isnan(value) else ("-" if value < 0 else "") + "Infinity"
            )
        else:
            assert value == stated
    return array


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (so NaN equals NaN and 0 differs from -0)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == np.bool_ or b.dtype == np.bool_:
        return a.shape == b.shape and bool(np.array_equal(a, b))
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def call(vector: dict[str, Any], inputs: dict[str, np.ndarray]) -> Any:
    op = OPS[vector["op"]]
    fn = getattr(dropspec.reference, op.name)
    params = inspect.signature(fn).parameters
    options = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in vector["options"].items()
        if k in params
    }
    rate = math.nan if vector["rate"] == "NaN" else vector["rate"]
    drawn = "return_mask" if "return_mask" in params else "return_noise"
    args = [rate if name.endswith("rate") else inputs[name] for name in op.positional]
    with np.errstate(invalid="ignore"):
        return fn(
            *args,
            training=vector["training"],
            seed=vector["seed"],
            **options,
            **{drawn: True},
        )


def test_every_vector_is_what_the_reference_returns(files: dict[str, dict[str, Any]]) -> None:
    checked = 0
    for op, data in files.items():
        assert data["schema"] == vectors.SCHEMA and data["spec_version"] == SPEC_VERSION
        for vector in data["vectors"]:
            assert vector["op"] == op and vector["spec_version"] == SPEC_VERSION
            inputs = {name: rebuild(entry) for name, entry in vector["inputs"].items()}
            assert {a.dtype.name for a in inputs.values()} == {vector["dtype"]}
            if vector["raises"]:
                with pytest.raises(ValueError):
                    call(vector, inputs)
                checked += 1
                continue
            result = call(vector, inputs)
            *outs, drawn = result
            got = {"y": outs[0], **({"weights": outs[1]} if len(outs) > 1 else {})}
            if isinstance(drawn, dict):
                got |= {f"mask_{k}": v for k, v in drawn.items() if v is not None}
            elif drawn is not None:
                got["mask" if drawn.dtype == np.bool_ else "noise"] = drawn
            expected = {name: rebuild(entry) for name, entry in vector["expected"].items()}
            grads = {k for k in expected if k.startswith("grad_")}
            assert set(expected) - grads == set(got), vector["clause"]
            for name, value in got.items():
                assert same(value, expected[name]), (vector["clause"], name)
            assert expected["y"].dtype.name == vector["dtype"]
            checked += 1
    assert checked > 100


def test_every_clause_that_is_not_statistical_has_a_vector_or_a_reason(
    files: dict[str, dict[str, Any]],
) -> None:
    for op in OPS.values():
        data = files[op.name]
        with_vector = {v["clause"] for v in data["vectors"]}
        reasons = {n["clause"]: n["reason"] for n in data["no_vector"]}
        assert not with_vector & set(reasons)
        for clause in op.clauses:
            if clause.kind == Kind.STATISTICAL:
                assert clause.id not in with_vector | set(reasons), clause.id
                continue
            assert clause.id in with_vector or reasons.get(clause.id), clause.id
            mine = [v for v in data["vectors"] if v["clause"] == clause.id]
            # An error clause's example raises; an exact or structural one returns.
            assert all(v["raises"] == (clause.kind == Kind.ERROR) for v in mine), clause.id
        exact = {c.id for c in op.clauses if c.kind != Kind.STATISTICAL}
        assert with_vector | set(reasons) == exact, op.name


def test_the_masked_ops_vectors_say_what_their_clauses_say(
    files: dict[str, dict[str, Any]],
) -> None:
    """From the file's numbers alone: a kept value is x·fl(s) and a dropped one 0 (VALUES,
    DROPPED-SELECT), or x·0 (DROPPED-MULTIPLY); the gradient is the mask times fl(s); two
    calls with one seed drop the same positions (MASK-VALUE-FREE)."""
    seen = 0
    for op in ("dropout", "drop_path"):
        by_clause: dict[str, list[dict[str, Any]]] = {}
        for vector in files[op]["vectors"]:
            by_clause.setdefault(vector["clause"].split("-", 1)[1], []).append(vector)
        for kind in ("VALUES", "DROPPED-SELECT", "DROPPED-MULTIPLY", "GRADIENT"):
            for vector in by_clause[kind]:
                x = rebuild(vector["inputs"]["x"])
                y, mask = rebuild(vector["expected"]["y"]), rebuild(vector["expected"]["mask"])
                keep = np.broadcast_to(mask, x.shape)
                rate, scaling = vector["rate"], vector["options"]["scaling"]
                s = x.dtype.type(1.0 / (1.0 - rate) if scaling == "inverted" else 1.0)
                with np.errstate(invalid="ignore"):
                    dropped = x * x.dtype.type(0) if kind == "DROPPED-MULTIPLY" else 0 * s
                    want = np.where(keep, x * s, dropped).astype(x.dtype)
                assert same(y, want), (op, kind)
                if kind == "GRADIENT":
                    grad = rebuild(vector["expected"]["grad_x"])
                    assert same(grad, np.where(keep, s, x.dtype.type(0))), op
                seen += 1
        first, second = by_clause["MASK-VALUE-FREE"]
        assert first["seed"] == second["seed"]
        assert not same(rebuild(first["inputs"]["x"]), rebuild(second["inputs"]["x"]))
        assert same(rebuild(first["expected"]["mask"]), rebuild(second["expected"]["mask"]))
    assert seen >= 8


def test_a_vector_file_is_plain_json(tmp_path: Path) -> None:
    """NaN, infinities and half-precision values survive a strict JSON reader exactly."""
    op = OPS["dropout"]
    clause = next(c for c in op.clauses if c.id == "DROPOUT-DROPPED-MULTIPLY")
    vector = vectors.compute(op, clause, vectors.cases(clause)[0])
    text = json.dumps(vector, allow_nan=False)
    y = rebuild(json.loads(text, parse_constant=_strict)["expected"]["y"])
    assert np.isnan(y).any() and np.isinf(y).any()
    half = vectors.encode(np.array([1.0, -2.0, 1.109375], dtype=ml_dtypes.bfloat16))
    assert half["bits"] == ["0x3f80", "0xc000", "0x3f8e"]
    assert same(rebuild(half), np.array([1.0, -2.0, 1.109375], dtype=ml_dtypes.bfloat16))
