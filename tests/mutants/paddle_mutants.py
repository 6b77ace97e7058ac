"""PaddlePaddle mutants: Paddle's own conventions misread (``mode=``, ``axis=``).

paddle is imported inside the functions only. Each seeded mutant reseeds Paddle's global
generator the way the built-in targets do (``fw_paddle.seeded``). Paddle cannot share a
process with TensorFlow, so ``tests/test_mutants.py`` runs these in a process of their own
(:func:`mutants.run_mutant`).
"""

from __future__ import annotations

from typing import Any

from dropspec.adapters.fw_paddle import seeded

from . import Mutant, mutant


def _upscaled_classic(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import paddle.nn.functional as F

    # Trains with mode="upscale_in_train" while inferring as "downscale_in_infer" does: the
    # two modes mixed, so the expected output is (1 - rate)·x in inference but x in training.
    if not training:
        return F.dropout(x, rate, training=False, mode="downscale_in_infer")
    with seeded(seed):
        return F.dropout(x, rate, training=True, mode="upscale_in_train")


def _axis_as_shared(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import paddle.nn.functional as F

    # Passes the axes meant to share a mask value as axis=, which names the axes that get
    # their own values: the mask varies along axis 1 and is shared along axes 0 and 2.
    with seeded(seed):
        return F.dropout(x, rate, axis=[1], training=training)


MUTANTS: tuple[Mutant, ...] = (
    mutant(
        _upscaled_classic,
        "dropout",
        framework="paddle",
        name="upscale_in_train_declared_classic",
        fault_class="scaling",
        description="declares classic scaling (mode='downscale_in_infer') but trains with "
        "mode='upscale_in_train': kept values are scaled by 1/(1 - rate)",
        clauses="DROPOUT-VALUES",
        scaling="classic",
    ),
    mutant(
        _axis_as_shared,
        "dropout",
        framework="paddle",
        name="axis_read_as_shared_axes",
        fault_class="structure",
        description="Paddle's axis= read as the shared axes: axis=[1] for shared_axes=(1,) "
        "draws one value per index of axis 1 and shares it along axes 0 and 2",
        clauses="DROPOUT-SHARED-CONSTANT",
        shared_axes=(1,),
        rank=3,
        dtypes=("bfloat16", "float32", "float64"),  # Paddle's CPU multiply has no float16
    ),
)
