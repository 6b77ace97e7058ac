"""Where a target's mask lives, and how a check reads it back: one :class:`Geometry` per target.

Built once per check from what the target's op declared where its checks are registered
(:class:`~dropspec.conformance.context.OpFacts`: its kind of mask, its inputs, a per-example
mask) and the target's resolved options (the op's defaults are filled in by
:func:`dropspec.target.make_target`), so the checks ask the geometry instead of branching on
the op or restating option defaults.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from ..context import OP_FACTS, Context, Inputs, Mask
from ..inputs import Allowed


@dataclasses.dataclass(frozen=True)
class Geometry:
    """The layout of one target's masks.

    Attributes
    ----------
    rank : int or None
        The rank the target accepts (declared); None for any rank of at least ``min_rank``.
    shared_axes : tuple of int
        The declared shared axes, negative ones counting from the end.
    per_example : bool
        One mask value per example, shared along every axis but axis 0 (drop path).
    min_rank : int
        The smallest rank an input can have: the declared rank, else room for every shared
        axis (and at least 2 for a per-example mask).
    stat_rank : int
        The rank of the statistical calls' inputs (see :meth:`stat_shape`).
    mask : Mask
        How a keep mask is read back from an output (see :data:`Mask`).
    inputs : Inputs
        What the target is called on (see :data:`Inputs`).
    """

    rank: int | None
    shared_axes: tuple[int, ...]
    per_example: bool
    min_rank: int
    stat_rank: int
    mask: Mask
    inputs: Inputs

    @classmethod
    def of(cls, op: str, options: Mapping[str, Any]) -> Geometry:
        """The geometry of a target of ``op`` declaring the resolved ``options``.

        ``rank`` and ``shared_axes`` are options of the ops that have them; an op without
        them (drop path, Gaussian dropout, DropConnect) takes any rank and shares no axis
        it declares.
        """
        facts = OP_FACTS[op]
        per_example = facts.per_example
        rank: int | None = options.get("rank")
        shared = tuple(options.get("shared_axes", ()))
        if rank is not None:
            min_rank = rank
        else:
            need = max([a + 1 if a >= 0 else -a for a in shared], default=1)
            min_rank = max(need, 2 if per_example else 1)
        if per_example:
            stat_rank = 2
        elif rank is not None:
            stat_rank = min_rank
        else:
            stat_rank = max(min_rank, 3)
        return cls(rank, shared, per_example, min_rank, stat_rank, facts.mask, facts.inputs)

    @property
    def layer(self) -> bool:
        """A layer (DropConnect: x, weight, bias) rather than an op on units."""
        return self.inputs == "layer"

    def shared_of(self, ndim: int) -> tuple[int, ...]:
        """The shared axes of an input of ``ndim`` dimensions, as sorted non-negative ints."""
        if self.per_example:
            return tuple(range(1, ndim))
        return tuple(sorted(a % ndim for a in self.shared_axes))

    def allowed(self, min_side: int = 1) -> Allowed:
        """What the example-based checks may draw for this target (:mod:`..inputs`): the
        declared rank, else any rank from ``min_rank`` -- from 0 (a scalar) where no shared
        axis or per-example mask needs an axis -- with sides of at least ``min_side``."""
        scalar = self.rank is None and not self.shared_axes and not self.per_example
        low = 0 if scalar else self.min_rank
        return Allowed(rank=self.rank, min_rank=low, min_side=min_side, layer=self.layer)

    def stat_shape(self, mask_values: int, shared_side: int = 1) -> tuple[int, ...]:
        """A shape for statistical calls whose mask has about ``mask_values`` values.

        Non-shared axes get side 8 except the last, which takes the rest (rounded to even);
        shared axes get ``shared_side``. Side 1 by default: the statistics are about mask
        values, one per group, and a longer shared axis would multiply the elements a call
        computes (eightfold for three shared axes of side 2) without adding a mask value.
        That the mask is constant along a shared axis is the structural SHARED-CONSTANT
        clause's, checked on shapes whose shared axes are longer than 1.
        """
        rank = self.stat_rank
        shared = self.shared_of(rank)
        free = [a for a in range(rank) if a not in shared]
        sides = [shared_side if a in shared else 8 for a in range(rank)]
        if free:
            rest = mask_values / 8 ** (len(free) - 1)
            sides[free[-1]] = gen_even(rest)
        return tuple(sides)


def geometry(ctx: Context) -> Geometry:
    """The geometry of the context's target (built once per check)."""
    key = ("geometry",)
    if key not in ctx.cache:
        ctx.cache[key] = Geometry.of(ctx.target.op, ctx.options)
    found: Geometry = ctx.cache[key]
    return found


def gen_even(n: float) -> int:
    """``n`` rounded up to an even number of at least 2."""
    return max(2, 2 * math.ceil(n / 2))
