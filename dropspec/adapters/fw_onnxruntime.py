"""ONNX: the ``Dropout`` operator as a one-node model, run by ONNX Runtime and by the ONNX
reference evaluator (``onnx.reference.ReferenceEvaluator``, the ONNX spec's own executable
semantics), two targets of the same model.

Rules: onnx and onnxruntime are imported inside functions only. Both take and return NumPy
arrays, so the backend is NumPy's with another name, and the statistical reductions run on
NumPy arrays like the reference's.

How the operator maps onto the spec (``Dropout``, opset 22, its latest version):

* the input ``ratio`` is the drop probability, the spec's ``rate``; it is fed as a float32
  scalar (float64 for float64 data), as exporters write it, never rounded to a half type;
* the input ``training_mode`` is the spec's ``training``;
* the attribute ``seed`` is the seed: an int64 in the model, so the targets take seeds below
  2^63, and a model is built per seed (building one takes about 25 µs, so none is cached);
* the output ``mask`` is the keep mask the kernel drew; the targets return ``output``, the
  adapter tests compare ``mask`` with its zero pattern;
* the operator's documented semantics, ``output = scale * data * mask`` with a ratio in
  [0, 1), are multiply masking with rate 1 rejected.

ONNX Runtime's CPU kernel keeps its generator in the session: every training run of one
session draws the next mask. The seeded target builds a fresh session per call; the stateful
target keeps one session, which is ONNX Runtime's own notion of a dropout layer's state. The
reference evaluator has no state (it seeds a new ``RandomState`` at every run: one mask per
model), so it has no stateful target.

DropConnect is written as ONNX graphs around the same node: weight drop (``Gemm`` of the
dropped weight) and the per-example form (:func:`per_example_model`: one masked copy of the
weight and bias per example), each a target on both runtimes. Their float32 scale (1000.0129
at rate 0.999) is DROPCONNECT-VALUES's divergence; the mask decoding of the statistical
clauses reads the codes with the target's own multiplier, so it does not spill into
DROPCONNECT-RATE.
No transformed variants: nothing here traces, vectorises or differentiates a Python call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dtypes import FLOAT_DTYPES, dtype_name
from ..target import Target, make_stateful_target, make_target
from ._backend import Backend
from .stateful import with_seeded_twins

#: The opset of the model: the version of ``Dropout`` it is built for (Dropout-22).
OPSET = 22


class OnnxBackend(Backend):
    """NumPy arrays in and out (both runtimes feed and return them); no autodiff, so the
    gradient clauses do not apply."""

    name = "onnxruntime"
    # The reference evaluator runs every dtype the operator lists, bfloat16 included; the
    # ONNX Runtime targets declare the three its CPU kernel is registered for.
    supported_dtypes = FLOAT_DTYPES
    startup_seconds = 1.0


BACKEND = OnnxBackend()

#: The dtypes ONNX Runtime's CPU ``Dropout`` kernel is registered for: no bfloat16
#: ("Could not find an implementation for Dropout(22)" when a model asks for one).
ORT_DTYPES: tuple[str, ...] = ("float16", "float32", "float64")


def _ratio_dtype(dtype: str) -> np.dtype[Any]:
    return np.dtype(np.float64 if dtype == "float64" else np.float32)


def _model(
    dtype: str, nodes: list[Any], data: list[str], outputs: list[str], constants: Any = ()
) -> Any:
    """A model of ``nodes`` whose inputs are ``data`` (of ``dtype``, any shape), ``ratio`` and
    ``training_mode``, and whose outputs are ``outputs`` (``mask`` a bool, the rest of
    ``dtype``)."""
    from onnx import TensorProto, helper

    from ..dtypes import as_dtype

    elem = helper.np_dtype_to_tensor_dtype(np.dtype(as_dtype(dtype)))
    ratio = helper.np_dtype_to_tensor_dtype(_ratio_dtype(dtype))
    graph = helper.make_graph(
        nodes,
        "dropout",
        [
            *(helper.make_tensor_value_info(name, elem, None) for name in data),
            helper.make_tensor_value_info("ratio", ratio, []),
            helper.make_tensor_value_info("training_mode", TensorProto.BOOL, []),
        ],
        [
            helper.make_tensor_value_info(name, TensorProto.BOOL if name == "mask" else elem, None)
            for name in outputs
        ],
        initializer=list(constants),
    )
    opset = [helper.make_opsetid("", OPSET)]
    # The oldest IR version that carries the opset: what ONNX Runtime reads.
    ir = helper.find_min_ir_version_for(opset)
    return helper.make_model(graph, opset_imports=opset, ir_version=ir)


def _dropout_node(data: str, output: str, mask: str, seed: int) -> Any:
    from onnx import helper

    return helper.make_node("Dropout", [data, "ratio", "training_mode"], [output, mask], seed=seed)


def dropout_model(dtype: str, seed: int) -> Any:
    """A one-node model: ``Dropout(data, ratio, training_mode) -> (output, mask)`` with the
    attribute ``seed``, data of ``dtype`` and of any shape."""
    node = _dropout_node("data", "output", "mask", seed)
    return _model(dtype, [node], ["data"], ["output", "mask"])


def weight_drop_model(dtype: str, seed: int, *, bias: bool) -> Any:
    """Weight drop: ``Gemm(x, Dropout(weight), bias, transB=1)``, one weight mask per run
    shared by the batch, the bias (if any) unmasked; outputs ``output`` and ``mask``."""
    from onnx import helper

    nodes = [
        _dropout_node("weight", "dropped", "mask", seed),
        helper.make_node(
            "Gemm", ["x", "dropped", *(["bias"] if bias else [])], ["output"], transB=1
        ),
    ]
    data = ["x", "weight", *(["bias"] if bias else [])]
    return _model(dtype, nodes, data, ["output", "mask"])


def per_example_model(dtype: str, seed: int) -> Any:
    """DropConnect as in Wan et al. 2013, from ONNX ops: the bias joins the weight as one
    more column (x gets a column of ones), the (out, in + 1) matrix is expanded to one copy
    per example, one ``Dropout`` node masks them all, and a batched MatMul applies each
    example's own copy; outputs ``output`` and ``mask`` (batch, out, in + 1)."""
    from onnx import helper, numpy_helper

    from ..dtypes import as_dtype

    constants = [
        numpy_helper.from_array(np.array([0, 0, 0, 1], np.int64), "pads"),
        numpy_helper.from_array(np.array(1, as_dtype(dtype)), "one"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    node = helper.make_node
    nodes = [
        node("Pad", ["x", "pads", "one"], ["x1"]),  # (n, in + 1), last column 1
        node("Unsqueeze", ["bias", "axis1"], ["bias_column"]),
        node("Concat", ["weight", "bias_column"], ["wb"], axis=1),  # (out, in + 1)
        node("Shape", ["x"], ["n"], end=1),
        node("Shape", ["wb"], ["wb_shape"]),
        node("Concat", ["n", "wb_shape"], ["copies_shape"], axis=0),
        node("Expand", ["wb", "copies_shape"], ["copies"]),  # (n, out, in + 1)
        _dropout_node("copies", "dropped", "mask", seed),
        node("Transpose", ["dropped"], ["dropped_t"], perm=[0, 2, 1]),
        node("Unsqueeze", ["x1", "axis1"], ["rows"]),  # (n, 1, in + 1)
        node("MatMul", ["rows", "dropped_t"], ["y3"]),  # (n, 1, out)
        node("Squeeze", ["y3", "axis1"], ["output"]),
    ]
    return _model(dtype, nodes, ["x", "weight", "bias"], ["output", "mask"], constants)


def _ratio(rate: float, dtype: Any) -> np.ndarray:
    return np.array(rate, _ratio_dtype(dtype_name(dtype)))


def feeds(x: np.ndarray, rate: float, training: bool) -> dict[str, np.ndarray]:
    """The inputs of :func:`dropout_model` for one call."""
    return {"data": x, "ratio": _ratio(rate, x.dtype), "training_mode": np.array(training)}


def weight_drop_feeds(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, rate: float, training: bool
) -> dict[str, np.ndarray]:
    """The inputs of :func:`weight_drop_model` for one call."""
    out = {"x": x, "weight": weight, "ratio": _ratio(rate, x.dtype)}
    out["training_mode"] = np.array(training)
    if bias is not None:
        out["bias"] = bias
    return out


def session_of(model: Any) -> Any:
    """An ONNX Runtime CPU session of ``model`` (one thread: the kernel draws its mask
    sequentially, and ``dropspec check -j N`` shares the cores between workers)."""
    import onnxruntime as ort  # type: ignore[import-untyped]  # no stubs or py.typed

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # an invalid ratio raises; do not also log it
    serialized = model.SerializeToString()
    return ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])


def ort_session(dtype: str, seed: int) -> Any:
    """An ONNX Runtime session of :func:`dropout_model`."""
    return session_of(dropout_model(dtype, seed))


def run_ort(
    session: Any, x: np.ndarray, rate: float, training: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(output, mask)`` of one run of ``session`` of :func:`dropout_model`."""
    output, mask = session.run(None, feeds(x, rate, training))
    return output, mask


def evaluate(model: Any, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(output, mask)`` of the reference evaluator on ``model``."""
    from onnx.reference import ReferenceEvaluator

    output, mask = ReferenceEvaluator(model).run(None, inputs)
    return np.asarray(output), np.asarray(mask)


def run_reference(
    x: np.ndarray, rate: float, *, training: bool, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(output, mask)`` of the reference evaluator on :func:`dropout_model`."""
    return evaluate(dropout_model(dtype_name(x.dtype), seed), feeds(x, rate, training))


def _ort_dropout(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    # A fresh session per call: a session's generator moves on at every training run.
    return run_ort(ort_session(dtype_name(x.dtype), seed), x, rate, training)[0]


def _reference_dropout(x: np.ndarray, rate: float, *, training: bool, seed: int) -> np.ndarray:
    return run_reference(x, rate, training=training, seed=seed)[0]


def _on_ort(model: Any, inputs: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(session_of(model).run(None, inputs)[0])


def _on_reference(model: Any, inputs: dict[str, np.ndarray]) -> np.ndarray:
    return evaluate(model, inputs)[0]


def _dropconnect(
    run: Callable[[Any, dict[str, np.ndarray]], np.ndarray], *, per_example: bool
) -> Callable[..., np.ndarray]:
    """A DropConnect target: :func:`weight_drop_model` (or :func:`per_example_model`, fed a
    zero bias when the call has none: masked, it adds nothing) built for the call's dtype and
    seed, and ``run`` on its inputs by one of the two runtimes."""

    def dropconnect(
        x: np.ndarray,
        weight: np.ndarray,
        bias: np.ndarray | None,
        rate: float,
        *,
        training: bool,
        seed: int,
    ) -> np.ndarray:
        if per_example:
            model = per_example_model(dtype_name(x.dtype), seed)
            bias = np.zeros(weight.shape[0], x.dtype) if bias is None else bias
        else:
            model = weight_drop_model(dtype_name(x.dtype), seed, bias=bias is not None)
        return run(model, weight_drop_feeds(x, weight, bias, rate, training))

    runtime = "ort" if run is _on_ort else "reference"
    form = "per_example" if per_example else "weight_drop"
    dropconnect.__qualname__ = dropconnect.__name__ = f"{runtime}_{form}"
    return dropconnect


def _ort_layer(rate: float, *, seed: int) -> Callable[..., np.ndarray]:
    """One session per dtype, built at its first call and kept: the layer's state is the
    generator inside the session's Dropout kernel, seeded from the attribute."""
    sessions: dict[str, Any] = {}

    def layer(x: np.ndarray, *, training: bool) -> np.ndarray:
        dtype = dtype_name(x.dtype)
        if dtype not in sessions:
            sessions[dtype] = ort_session(dtype, seed)
        return run_ort(sessions[dtype], x, rate, training)[0]

    return layer


_ORT_SOURCE = (
    "https://github.com/microsoft/onnxruntime/blob/v1.31.1/onnxruntime/core/providers/cpu/nn/"
    "dropout_op.h"
)
_REF_SOURCE = "https://github.com/onnx/onnx/blob/v1.23.2/onnx/reference/ops/op_dropout.py"
_OPERATOR = "https://github.com/onnx/onnx/blob/v1.23.2/docs/Operators.md#Dropout"

#: Both runtimes multiply, as the operator is written.
SELECT_REASON = (
    "the ONNX operator is defined as output = scale * data * mask, so a dropped NaN or "
    f"infinity gives NaN, and both runtimes compute it so ({_OPERATOR})"
)
#: Observed: seeds 0 and 1, 3 and 3 + 2^31 - 1 give the same mask; 7 and 7 + 2^32 do not.
ORT_SEED_REASON = (
    "the CPU kernel seeds std::default_random_engine (minstd_rand0 in libstdc++) with the "
    "seed attribute, which keeps it modulo 2^31 - 1 and maps 0 to 1: seeds 0 and 1, and s "
    f"and s + 2^31 - 1, give the same mask; no upstream issue found ({_ORT_SOURCE})"
)
#: Observed: ratio -0.1 scales by 1/1.1, 1.5 returns -0, NaN returns NaN, all without error.
REF_RATE_REASON = (
    "the reference evaluator never checks ratio against the operator's [0, 1): a negative "
    "rate drops nothing and scales by 1/(1 - rate), a rate above 1 returns -0 and NaN "
    f"returns NaN; no upstream issue found ({_REF_SOURCE})"
)
REF_RATE_ONE_REASON = (
    "at ratio 1 the reference evaluator computes scale = 1/(1 - ratio) = inf in NumPy and "
    "returns mask * x * inf = NaN everywhere instead of raising, although the operator takes "
    f"ratio in [0, 1); no upstream issue found ({_REF_SOURCE})"
)
REF_DTYPE_REASON = (
    "the reference evaluator computes mask * x * scale with scale a NumPy scalar of the "
    "ratio's type, so float16 and bfloat16 data with a float32 ratio come back as float32 "
    f"(the operator says output has data's type T); no upstream issue found ({_REF_SOURCE})"
)
#: Observed: float16 x = -1.605 at rate 0.9 gives -16.047, x·10 rounds to -16.055.
REF_VALUES_REASON = (
    "the reference evaluator scales by 1/(1 - ratio) computed from the ratio tensor, a "
    "float32 for float32 and half-precision data: a rate such as 0.9 arrives as 0.89999998 "
    "and the scale is 9.9999976, not 10 (float64 data, whose ratio is a double, is exact); "
    f"no upstream issue found ({_REF_SOURCE})"
)
REF_UNBIASED_REASON = (
    "the reference evaluator's bfloat16 output is float32 (DROPOUT-DTYPE), scaled by the "
    "float32 1/(1 - ratio), so its mean is x, not x·(1 - rate)·s rounded to bfloat16, as "
    f"a bfloat16 output's would be; no upstream issue found ({_REF_SOURCE})"
)
#: Observed: calls k = 24 at rate 0.5 leave 1.2 % of the elements never dropped
#: (Binomial(24, 0.5) gives 6e-8).
ORT_STATE_REASON = (
    "each training run of one session seeds a new minstd_rand0 with the next integer "
    "(RandomGenerator::NextSeed: seed, seed + 1, ...), and minstd's first draws for "
    "consecutive seeds differ by 16807/(2^31 - 1): some elements are kept or dropped "
    "together across successive runs, so the masks of successive calls are correlated; no "
    f"upstream issue found ({_ORT_SOURCE})"
)
#: Observed: float16 x = -0.92 at rate 0.9 gives -9.195 (x·10 rounds to -9.203), and
#: float64 x = 1 gives 9.9999976 instead of 10.
ORT_VALUES_REASON = (
    "the CPU kernel reads the ratio as a C++ float whatever its type and multiplies by "
    "x / (1.0f - ratio) in float32 arithmetic: a float64 output is off by the float32 "
    "rounding of the rate (1 at rate 0.9 gives 9.9999976, at rate 0.99 100.0001), and a "
    f"float16 one can round to the other neighbour of x·s; no upstream issue found "
    f"({_ORT_SOURCE})"
)
_ORT_XFAIL = {
    "DROPOUT-DROPPED-SELECT": SELECT_REASON,
    "DROPOUT-VALUES": ORT_VALUES_REASON,
    "DROPOUT-SEED-SPACE": ORT_SEED_REASON,
}
_REF_XFAIL = {
    "DROPOUT-DROPPED-SELECT": SELECT_REASON,
    "DROPOUT-RATE-INVALID": REF_RATE_REASON,
    "DROPOUT-RATE-INVALID-INFERENCE": REF_RATE_REASON,
    "DROPOUT-RATE-ONE-ERROR": REF_RATE_ONE_REASON,
    "DROPOUT-DTYPE": REF_DTYPE_REASON,
    "DROPOUT-VALUES": REF_VALUES_REASON,
    "DROPOUT-UNBIASED": REF_UNBIASED_REASON,
}

#: Weight drop as the graph computes it: the rate checks and rate 1 are the operator's.
_WEIGHT_DROP: dict[str, Any] = dict(
    masks="per_batch", mask_bias=False, scaling="inverted", inference="mean", rate_one="error"
)
#: What each runtime's DropConnect targets declare of it: its dtypes, seeds and the
#: divergences of its Dropout node that a composition shows.
_ORT_DC: dict[str, Any] = dict(
    framework="onnxruntime", dtypes=ORT_DTYPES, requires=("onnx",), seed_bits=63
)
_REF_DC: dict[str, Any] = dict(framework="onnxruntime", requires=("onnx",), seed_bits=32)
#: Wan et al.'s DropConnect as the per-example graph computes it.
_PER_EXAMPLE: dict[str, Any] = {**_WEIGHT_DROP, "masks": "per_example", "mask_bias": True}
#: Observed: at rate 0.99 a float32 output 51200.05 where s·x·(M ⊙ W)ᵀ is 51200.00.
_ORT_XFAIL_DC = {
    "DROPCONNECT-VALUES": ORT_VALUES_REASON,
    "DROPCONNECT-SEED-SPACE": ORT_SEED_REASON,
}
_REF_XFAIL_DC = {
    "DROPCONNECT-RATE-INVALID": REF_RATE_REASON,
    "DROPCONNECT-RATE-INVALID-INFERENCE": REF_RATE_REASON,
    "DROPCONNECT-RATE-ONE-ERROR": REF_RATE_ONE_REASON,
}

#: The operator's own conventions, declared alike for both runtimes so that the matrix shows
#: where they part.
_OPERATOR_OPTIONS: dict[str, Any] = dict(scaling="inverted", masking="multiply", rate_one="error")

TARGETS: tuple[Target, ...] = (
    make_target(
        _ort_dropout,
        "dropout",
        name="onnxruntime.Dropout",
        framework="onnxruntime",
        dtypes=ORT_DTYPES,
        requires=("onnx",),
        seed_bits=63,
        expected_failures=_ORT_XFAIL,
        **_OPERATOR_OPTIONS,
        description="a one-node ONNX model Dropout(data, ratio, training_mode) with "
        "attribute seed (opset 22), run by a fresh onnxruntime.InferenceSession per call "
        "on the CPU",
    ),
    make_target(
        _reference_dropout,
        "dropout",
        name="onnx.reference.Dropout",
        framework="onnxruntime",
        requires=("onnx",),
        # RandomState(seed) takes seeds below 2^32 and raises for the rest of the
        # attribute's int64 range.
        seed_bits=32,
        expected_failures=_REF_XFAIL,
        expected_failure_dtypes={"DROPOUT-UNBIASED": ("bfloat16",)},
        **_OPERATOR_OPTIONS,
        description="the same one-node model run by onnx.reference.ReferenceEvaluator, the "
        "ONNX spec's executable semantics (numpy.random.RandomState(seed): seeds below 2^32)",
    ),
    make_stateful_target(
        _ort_layer,
        "dropout",
        name="onnxruntime.Dropout (stateful)",
        framework="onnxruntime",
        requires=("onnx",),
        seed_bits=63,
        expected_failures={"DROPOUT-STATE-CALLS": ORT_STATE_REASON},
        **_OPERATOR_OPTIONS,
        description="one onnxruntime.InferenceSession of the Dropout model, built once with "
        "attribute seed and run again and again; the kernel's generator is its state",
    ),
    make_target(
        _dropconnect(_on_ort, per_example=False),
        "dropconnect",
        name="onnxruntime.weight_drop",
        **_ORT_DC,
        expected_failures=_ORT_XFAIL_DC,
        **_WEIGHT_DROP,
        description="an ONNX model Gemm(x, Dropout(weight, ratio, training_mode), bias, "
        "transB=1) with attribute seed, run by a fresh onnxruntime.InferenceSession per "
        "call: weight drop, one mask per call, bias unmasked",
    ),
    make_target(
        _dropconnect(_on_reference, per_example=False),
        "dropconnect",
        name="onnx.reference.weight_drop",
        **_REF_DC,
        expected_failures=_REF_XFAIL_DC,
        **_WEIGHT_DROP,
        description="the same weight-drop model run by onnx.reference.ReferenceEvaluator",
    ),
    make_target(
        _dropconnect(_on_ort, per_example=True),
        "dropconnect",
        name="onnxruntime.dropconnect.per_example",
        **_ORT_DC,
        expected_failures=_ORT_XFAIL_DC,
        **_PER_EXAMPLE,
        description="an ONNX graph (per_example_model) that appends the bias to the weight "
        "as a column, expands it to one copy per example, masks all copies with one Dropout "
        "node (attribute seed) and applies each example's copy by a batched MatMul; run by "
        "a fresh onnxruntime.InferenceSession per call",
    ),
    make_target(
        _dropconnect(_on_reference, per_example=True),
        "dropconnect",
        name="onnx.reference.dropconnect.per_example",
        **_REF_DC,
        # The evaluator's Dropout returns float16 and bfloat16 copies as float32
        # (DROPOUT-DTYPE of onnx.reference.Dropout), and its MatMul then refuses the mixed
        # types ("Input type mismatch: float16 != float32"): the graph runs in these two.
        dtypes=("float32", "float64"),
        # VALUES, observed at base seed 20131204: float32, rate 0.99, 819200.8125 where
        # s·x·(M ⊙ W)ᵀ + b′ is 819200.0 (the float32 ratio, as for onnx.reference.Dropout).
        expected_failures={**_REF_XFAIL_DC, "DROPCONNECT-VALUES": REF_VALUES_REASON},
        **_PER_EXAMPLE,
        description="the same per-example graph run by onnx.reference.ReferenceEvaluator",
    ),
)
TARGETS = with_seeded_twins(TARGETS)
