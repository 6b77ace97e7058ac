"""ONNX Runtime mutants: one-node Dropout models wired up wrongly, as an exporter or a
hand-written graph gets them wrong. onnx and onnxruntime are imported inside the functions
only (through the adapter's helpers)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dropspec.adapters.fw_onnxruntime import (
    ORT_SEED_REASON,
    ORT_VALUES_REASON,
    SELECT_REASON,
    dropout_model,
    ort_session,
    run_ort,
)
from dropspec.dtypes import dtype_name

from . import Mutant, mutant

#: What ONNX Runtime's own Dropout gets wrong, inherited by the mutants built on it.
ORT_XFAIL = {
    "DROPOUT-DROPPED-SELECT": SELECT_REASON,
    "DROPOUT-VALUES": ORT_VALUES_REASON,
    "DROPOUT-SEED-SPACE": ORT_SEED_REASON,
}
OPERATOR: dict[str, Any] = dict(
    masking="multiply", rate_one="error", seed_bits=63, dtypes=("float32",)
)


def _keep_prob_as_ratio(x: np.ndarray, rate: float, *, training: bool, seed: int) -> Any:
    # TensorFlow 1's keep_prob carried over: the ratio input gets the keep probability.
    session = ort_session(dtype_name(x.dtype), seed)
    return run_ort(session, x, 1.0 - rate, training)[0]


def _always_training(x: np.ndarray, rate: float, *, training: bool, seed: int) -> Any:
    # training_mode fed as a constant True, as a model exported in training mode has it.
    return run_ort(ort_session(dtype_name(x.dtype), seed), x, rate, True)[0]


def _unseeded(x: np.ndarray, rate: float, *, training: bool, seed: int) -> Any:
    import onnxruntime as ort  # type: ignore[import-untyped]

    model = dropout_model(dtype_name(x.dtype), seed)
    del model.graph.node[0].attribute[:]  # no seed attribute: ORT seeds from the clock
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return run_ort(session, x, rate, training)[0]


MUTANTS: tuple[Mutant, ...] = tuple(
    mutant(
        fn,
        "dropout",
        framework="onnxruntime",
        name=name,
        fault_class=fault,
        description=description,
        clauses=clauses,
        expected_failures=ORT_XFAIL,
        **OPERATOR,
    )
    for fn, name, fault, description, clauses in (
        (
            _keep_prob_as_ratio,
            "keep_prob_as_ratio",
            "rate",
            "feeds 1 - rate as the ratio input (keep probability for drop probability)",
            "DROPOUT-RATE",
        ),
        (
            _always_training,
            "always_training",
            "scaling",
            "feeds training_mode=True whatever the call asks: inference drops too",
            "DROPOUT-INFERENCE-IDENTITY",
        ),
        (
            _unseeded,
            "unseeded",
            "determinism",
            "leaves the seed attribute out: each session seeds itself afresh",
            "DROPOUT-DETERMINISTIC",
        ),
    )
)
