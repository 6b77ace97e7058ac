"""The checks of dropout's clauses (:mod:`dropspec.spec.dropout`), one per clause id."""

from __future__ import annotations

from ..context import Context, register
from ..stats import StatResult
from . import common, layouts, masked, relations, stateful
from ._masks import mask_calls, unit_masks
from ._statistical import (
    NEIGHBOUR_OFFSETS,
    every_dtype,
    neighbour_sizes,
    neighbour_tables,
    plan_tables,
    planned,
    verdict,
)


def plan_independent_elements(ctx: Context) -> list[StatResult]:
    return plan_tables(ctx, neighbour_sizes(*mask_calls(ctx, 1 << 20), [None]), rate=0.5)


@planned(plan_independent_elements)
@every_dtype
def check_independent_elements(ctx: Context) -> StatResult:
    # Pairs never straddle two calls: each call's mask is paired within itself.
    tables = neighbour_tables(ctx, unit_masks(ctx, 0.5, 1 << 20), [None])
    alpha = ctx.split(len(tables))
    results = [table.test(alpha, rate=0.5, **where) for where, table in tables]
    return verdict(
        results, f"mask values at offsets 1..{NEIGHBOUR_OFFSETS} in memory order are dependent"
    )


register(
    "dropout",
    {
        "DROPOUT-SHAPE": common.check_shape,
        "DROPOUT-DTYPE": common.check_dtype,
        "DROPOUT-DETERMINISTIC": common.check_deterministic,
        "DROPOUT-INDEPENDENT-SEEDS": common.check_independent_seeds,
        "DROPOUT-RATE-INVALID": common.check_rate_invalid,
        "DROPOUT-INFERENCE-IDENTITY": common.check_inference_identity,
        "DROPOUT-INFERENCE-CLASSIC": masked.check_inference_classic,
        "DROPOUT-VALUES": masked.check_values,
        "DROPOUT-RATE": masked.check_rate,
        "DROPOUT-UNBIASED": masked.check_unbiased,
        "DROPOUT-VARIANCE": masked.check_variance,
        "DROPOUT-INDEPENDENT-CALLS": masked.check_independent_calls,
        "DROPOUT-INDEPENDENT-AXES": masked.check_independent_axes,
        "DROPOUT-RATE-ZERO": common.check_rate_zero,
        "DROPOUT-DROPPED-SELECT": masked.check_dropped_select,
        "DROPOUT-DROPPED-MULTIPLY": masked.check_dropped_multiply,
        "DROPOUT-GRADIENT": common.check_gradient,
        "DROPOUT-RATE-ONE-ZEROS": masked.check_rate_one_zeros,
        "DROPOUT-RATE-ONE-ERROR": common.check_rate_one_error,
        "DROPOUT-INDEPENDENT-ELEMENTS": check_independent_elements,
        "DROPOUT-NO-PERIOD": masked.check_no_period,
        "DROPOUT-SHARED-CONSTANT": masked.check_shared_constant,
        "DROPOUT-MASK-VALUE-FREE": relations.check_value_free,
        "DROPOUT-FRESH-OUTPUT": relations.check_fresh_output,
        "DROPOUT-RATE-INVALID-INFERENCE": relations.check_rate_invalid_inference,
        "DROPOUT-SEED-PROCESS": relations.check_seed_process,
        "DROPOUT-SEED-SPACE": relations.check_seed_space,
        "DROPOUT-SEED-PAIRS": relations.check_seed_pairs,
        "DROPOUT-LAYOUT": layouts.check_layout_invariant,
        "DROPOUT-STATE-CALLS": stateful.check_state_calls,
        "DROPOUT-STATE-REPRODUCIBLE": stateful.check_state_reproducible,
        "DROPOUT-STATE-INFERENCE": stateful.check_state_inference,
        "DROPOUT-STATE-GRADIENT": stateful.check_state_gradient,
        "DROPOUT-STATE-STREAMS": stateful.check_state_streams,
    },
    mask="zero",
    inputs="units",
)
