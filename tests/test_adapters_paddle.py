"""The PaddlePaddle adapter: declarations here; everything that imports paddle in a process of
its own.

Paddle cannot share a process with TensorFlow (importing TensorFlow, then Paddle, segfaults),
and the test process imports TensorFlow for its own adapter tests. So this file never imports
paddle: the backend and the targets run in one subprocess (:data:`_SCRIPT`), and the last test
checks that ``dropspec check`` keeps Paddle's targets out of a worker that ran TensorFlow's.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import cli

from dropspec.adapters import builtin_targets, fw_paddle, get_backend
from dropspec.frameworks import FRAMEWORKS
from dropspec.spec import CLAUSES

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("paddle") is None, reason="paddle is not installed"
)

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {t.name: t for t in fw_paddle.TARGETS}


def test_the_row_and_the_backend_declare_a_process_of_its_own() -> None:
    row = FRAMEWORKS["paddle"]
    assert row.adapters == ("dropspec.adapters.fw_paddle",)
    assert get_backend("paddle") is fw_paddle.BACKEND
    assert fw_paddle.BACKEND.own_process
    assert not any(get_backend(n).own_process for n in ("numpy", "torch", "tensorflow", "jax"))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_is_registered_and_well_declared(name: str) -> None:
    t = TARGETS[name]
    assert builtin_targets()[name] is t
    assert t.error is None, t.error
    assert t.framework == "paddle"
    assert t.description
    for clause_id, reason in t.expected_failures.items():
        assert clause_id in CLAUSES and CLAUSES[clause_id].op == t.op
        assert "https://" in reason


def test_axis_is_the_complement_of_shared_axes() -> None:
    # axis=[0, 2] on rank 3: axis 1 shares; the channel formats share their spatial axes.
    assert TARGETS["paddle.dropout.axis"].options["shared_axes"] == (1,)
    assert TARGETS["paddle.dropout2d.NHWC"].options["shared_axes"] == (1, 2)
    assert TARGETS["paddle.dropout3d.NCDHW"].options["shared_axes"] == (2, 3, 4)
    assert TARGETS["paddle.dropout.downscale_in_infer"].options["scaling"] == "classic"


#: Run in a fresh interpreter: imports paddle and never TensorFlow.
_SCRIPT = r"""
import sys
import numpy as np
import paddle
from dropspec.adapters import builtin_targets, get_backend
from dropspec.adapters.fw_paddle import seeded
from dropspec.dtypes import FLOAT_DTYPES, as_dtype, dtype_name

B = get_backend("paddle")
rng = np.random.default_rng(0)

# Round trip in every dtype, exact; reductions get a host copy.
for dtype in FLOAT_DTYPES:
    a = rng.normal(size=(3, 4)).astype(as_dtype(dtype))
    back = B.to_numpy(B.asarray(a))
    assert dtype_name(back.dtype) == dtype and np.array_equal(back, a), dtype
    assert isinstance(B.for_reduction(B.asarray(a)), np.ndarray)

# seeded() leaves the caller's stream where it was.
paddle.seed(5)
want = paddle.rand([8]).numpy()
paddle.seed(5)
with seeded(123):
    paddle.rand([8])
assert np.array_equal(paddle.rand([8]).numpy(), want)

shapes = {None: (4, 6), 3: (4, 5, 6), 4: (2, 3, 4, 5), 5: (2, 3, 2, 3, 4)}
for name, t in builtin_targets().items():
    if t.framework != "paddle":
        continue
    if t.op == "dropconnect":  # x (batch, in), weight (out, in), bias (out,) -> (batch, out)
        layer = [rng.uniform(0.5, 2.0, s).astype("f4") for s in ((3, 5), (4, 5), (4,))]
        out = B.to_numpy(t(*map(B.asarray, layer), 0.25, training=True, seed=7))
        assert out.shape == (3, 4) and out.dtype == np.float32, name
        continue
    shape = shapes[t.options.get("rank")]
    for dtype in t.dtypes or B.supported_dtypes:
        x = rng.uniform(0.5, 2.0, shape).astype(as_dtype(dtype))
        for training in (True, False):
            out = B.to_numpy(t(B.asarray(x), 0.25, training=training, seed=7))
            assert out.shape == x.shape and out.dtype == x.dtype, (name, dtype, training)
    x = np.ones(shape, "f4")
    one = B.to_numpy(t(B.asarray(x), 0.5, training=True, seed=11))
    assert np.array_equal(one, B.to_numpy(t(B.asarray(x), 0.5, training=True, seed=11))), name
    if t.op == "dropout":
        keep = one != 0
        for axis in t.options["shared_axes"]:  # one value along every shared axis
            assert (keep == np.take(keep, [0], axis=axis)).all(), (name, axis)
        assert 0 < keep.mean() < 1, name
    if t.options.get("scaling") == "classic":  # kept values unscaled; inference x·(1 - p)
        assert set(np.unique(one)) <= {0.0, 1.0}, name
        inferred = B.to_numpy(t(B.asarray(x), 0.25, training=False, seed=11))
        assert np.array_equal(inferred, np.full(shape, 0.75, "f4")), name

# The gradient is the forward pass's own mask times its scale.
t = builtin_targets()["paddle.dropout"]
x = rng.uniform(0.5, 2.0, (5, 7)).astype("f4")
fwd = B.to_numpy(t(B.asarray(x), 0.5, training=True, seed=3))
grad = B.vjp(lambda v: t(v, 0.5, training=True, seed=3), x, np.ones_like(x))
assert np.array_equal(grad, np.where(fwd != 0, np.float32(2.0), np.float32(0.0)))

assert "tensorflow" not in sys.modules
print("ok")
"""


def test_backend_and_every_target_in_a_process_of_their_own() -> None:
    """Conversions, seeding, shapes and dtypes, shared axes, classic scaling and gradients,
    all in one fresh interpreter (one paddle import for the lot)."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_importing_the_adapter_does_not_import_paddle() -> None:
    code = (
        "import sys, dropspec.adapters.fw_paddle; "
        "from dropspec.adapters import builtin_targets; builtin_targets(); "
        "assert 'paddle' not in sys.modules, 'paddle was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.slow  # ~15 s: a TensorFlow and a Paddle import in workers
@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs tensorflow")
def test_check_runs_paddle_in_a_worker_that_never_ran_tensorflow(tmp_path: Path) -> None:
    """One worker, a TensorFlow target then a Paddle one (the costlier import goes first):
    without a fresh worker for Paddle the second import segfaults and the target is lost."""
    out = tmp_path / "r.json"
    done = cli(
        "check",
        "tf.nn.dropout",
        "paddle.dropout",
        "-j",
        "1",
        "--clause",
        "DROPOUT-SHAPE",
        "--json",
        str(out),
        cwd=ROOT,
    )
    report = json.loads(out.read_text())
    status = {t["name"]: (t["status"], t["clauses"][0]["outcome"]) for t in report["targets"]}
    assert status == {"tf.nn.dropout": ("ok", "passed"), "paddle.dropout": ("ok", "passed")}, (
        done.stderr[-3000:]
    )
