"""The check of *-LAYOUT: a training output does not depend on the input's memory layout.

Each op's module registers it for its own clause id. Its examples come from the input design
(:mod:`..inputs`): every layout but C order that the target's framework can carry, the other
arguments (a layer's bias) as drawn.
"""

from __future__ import annotations

import numpy as np

from ..context import Context, NotApplicable
from ._examples import Case, LayerCase, cases, examples, input_plan, require_same


def check_layout_invariant(ctx: Context) -> None:
    if set(input_plan(ctx).layouts) <= {"C"}:
        raise NotApplicable(
            f"{ctx.backend.name} arrays are always laid out densely by the framework: an "
            f"input reaches the target in C order whatever its NumPy layout"
        )

    def body(case: Case | LayerCase) -> None:
        arrays = case.inputs()
        dense = tuple(np.array(a, copy=True, order="C") for a in arrays)
        if all(a.flags.c_contiguous and a.flags.writeable for a in arrays):
            return  # C order (or a rank too low for the layout to differ): nothing to compare
        got = ctx.call(*arrays, rate=case.rate, seed=case.seed)
        want = ctx.call(*dense, rate=case.rate, seed=case.seed)
        require_same(
            "layout",
            got,
            want,
            f"the output for a {case.layout} input differs from the output for its "
            f"contiguous copy ({case.describe()})",
        )

    examples(ctx, lambda d: cases(ctx, d), body)
