"""The checks of drop path's clauses (:mod:`dropspec.spec.drop_path`), one per clause id.

Drop path is dropout with one mask value per example (see ``_geometry.Geometry.per_example``):
every check is dropout's, run on that geometry.
"""

from __future__ import annotations

from ..context import register
from . import common, layouts, masked, relations, stateful

register(
    "drop_path",
    {
        "DROPPATH-SHAPE": common.check_shape,
        "DROPPATH-DTYPE": common.check_dtype,
        "DROPPATH-DETERMINISTIC": common.check_deterministic,
        "DROPPATH-INDEPENDENT-SEEDS": common.check_independent_seeds,
        "DROPPATH-RATE-INVALID": common.check_rate_invalid,
        "DROPPATH-INFERENCE-IDENTITY": common.check_inference_identity,
        "DROPPATH-INFERENCE-CLASSIC": masked.check_inference_classic,
        "DROPPATH-VALUES": masked.check_values,
        "DROPPATH-RATE": masked.check_rate,
        "DROPPATH-UNBIASED": masked.check_unbiased,
        "DROPPATH-VARIANCE": masked.check_variance,
        "DROPPATH-INDEPENDENT-CALLS": masked.check_independent_calls,
        "DROPPATH-INDEPENDENT-AXES": masked.check_independent_axes,
        "DROPPATH-RATE-ZERO": common.check_rate_zero,
        "DROPPATH-DROPPED-SELECT": masked.check_dropped_select,
        "DROPPATH-DROPPED-MULTIPLY": masked.check_dropped_multiply,
        "DROPPATH-GRADIENT": common.check_gradient,
        "DROPPATH-RATE-ONE-ZEROS": masked.check_rate_one_zeros,
        "DROPPATH-RATE-ONE-ERROR": common.check_rate_one_error,
        "DROPPATH-LAYOUT": layouts.check_layout_invariant,
        "DROPPATH-PER-EXAMPLE": masked.check_shared_constant,
        "DROPPATH-MASK-VALUE-FREE": relations.check_value_free,
        "DROPPATH-FRESH-OUTPUT": relations.check_fresh_output,
        "DROPPATH-RATE-INVALID-INFERENCE": relations.check_rate_invalid_inference,
        "DROPPATH-SEED-PROCESS": relations.check_seed_process,
        "DROPPATH-SEED-SPACE": relations.check_seed_space,
        "DROPPATH-SEED-PAIRS": relations.check_seed_pairs,
        "DROPPATH-STATE-CALLS": stateful.check_state_calls,
        "DROPPATH-STATE-REPRODUCIBLE": stateful.check_state_reproducible,
        "DROPPATH-STATE-INFERENCE": stateful.check_state_inference,
        "DROPPATH-STATE-GRADIENT": stateful.check_state_gradient,
        "DROPPATH-STATE-STREAMS": stateful.check_state_streams,
    },
    mask="zero",
    inputs="units",
    per_example=True,
)
