"""Transformations as target variants (issue 23): how a variant is named, loaded and refused,
what ``--all`` runs, and that a variant only translates (same seed, same output)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import dropspec
from dropspec.adapters import (
    builtin_targets,
    default_set,
    joined,
    load_target,
    split,
    supported,
    twins,
    under,
    variants,
)
from dropspec.cli import main

BUILTINS = builtin_targets()
DEFAULT_SET = default_set()
VARIANTS = variants()


def test_names_split_and_join() -> None:
    assert split("my.py:f under jit") == ("my.py:f", "jit")
    assert split("flax.nnx.Dropout") == ("flax.nnx.Dropout", None)
    assert joined(*split("a under vmap")) == "a under vmap"  # type: ignore[arg-type]


def test_a_variant_keeps_its_targets_declaration() -> None:
    pytest.importorskip("torch")
    base = BUILTINS["torch.dropout"]
    t = load_target("torch.dropout under torch.vmap")
    assert t.name == t.source == "torch.dropout under torch.vmap" and t.error is None
    assert (t.op, t.framework, dict(t.options)) == (base.op, base.framework, dict(base.options))
    assert t.fn is not base.fn
    # the expected failure observed not to occur under the variant is dropped, no other
    assert set(base.expected_failures) - set(t.expected_failures) == {"DROPOUT-LAYOUT"}


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("reference.dropout under jit", "for jax targets"),
        ("torch.dropout2d under torch.vmap", "rank or shared axes"),
        ("tf.weight_drop under tf.function.xla", ""),
        ("tf.nn.dropout under tf.function", "Python int"),
        ("torch.dropout under nosuch", "unknown variant"),
    ],
)
def test_what_a_variant_cannot_wrap_is_not_checked_with_the_reason(spec: str, why: str) -> None:
    base, variant = split(spec)
    if not why:  # wrappable: no refusal without a probe
        assert under(BUILTINS[base], str(variant), probe=False).error is None
        return
    t = under(BUILTINS[base], str(variant), probe=False)
    assert t.error is not None and why in t.error and t.name == spec


def _needs_a_python_seed(x: Any, rate: float, *, training: bool, seed: int) -> Any:
    import jax.numpy as jnp

    keep = np.random.default_rng(int(seed)).random(x.shape) >= rate
    return jnp.where(keep, x / (1.0 - rate), 0) if training else x


def test_a_target_that_needs_a_concrete_seed_is_not_checked_under_a_traced_variant() -> None:
    pytest.importorskip("jax")
    t = dropspec.make_target(_needs_a_python_seed, "dropout", framework="jax", seed_bits=63)
    for variant in ("jit", "vmap", "checkpoint"):
        made = under(t, variant)
        assert made.error is not None and "needs a concrete one" in made.error, variant


def test_traced_variants_pass_the_seed_bit_for_bit() -> None:
    """jit and checkpoint give what the eager call gives, for seeds above 2^63 too (the traced
    int64 carries the seed's 64 bits); vmap gives each example its own mask."""
    pytest.importorskip("equinox")
    from dropspec.adapters.fw_jax import BACKEND

    base = BUILTINS["equinox.nn.Dropout"]
    x = BACKEND.asarray(np.ones((8, 256), np.float32))
    for seed in (1, 2**64 - 1):
        want = np.asarray(base(x, 0.5, training=True, seed=seed))
        for variant in ("jit", "checkpoint"):
            got = np.asarray(under(base, variant)(x, 0.5, training=True, seed=seed))
            np.testing.assert_array_equal(got, want, err_msg=f"{variant} seed {seed}")
    rows = np.asarray(under(base, "vmap")(x, 0.5, training=True, seed=3)) != 0
    assert len({r.tobytes() for r in rows}) == len(rows)


def test_the_default_set_is_supported_and_all_is_every_supported_pair() -> None:
    every = supported(BUILTINS)
    assert set(DEFAULT_SET) <= set(every)
    assert {split(s)[1] for s in DEFAULT_SET} >= {"vmap", "checkpoint", "torch.vmap", "tf.function"}
    # every variant but those --variants all leaves out for their cost (all_set=())
    assert {split(s)[1] for s in every} == {n for n, v in VARIANTS.items() if v.all_set != ()}
    for s in every:
        base, variant = split(s)
        assert BUILTINS[base].framework == VARIANTS[str(variant)].framework


def test_the_command_line_adds_variants(capsys: pytest.CaptureFixture[str]) -> None:
    def listed(*argv: str) -> set[str]:
        assert main(["check", *argv, "--dry-run"]) == 0
        out = capsys.readouterr().out.splitlines()  # a Keras line ends in its environment
        return {ln.split("   [KERAS_BACKEND=")[0].strip() for ln in out if " under " in ln}

    installed = {s for s in DEFAULT_SET if split(s)[0] in BUILTINS}
    assert listed("--all") == installed
    assert listed("--all", "--variants", "none") == set()
    assert listed("--all", "--twins", "--variants", "all") == set(supported(BUILTINS))
    chosen = {n: t for n, t in BUILTINS.items() if n not in twins()}
    assert listed("--all", "--variants", "all") == set(supported(chosen))
    assert listed("torch.dropout", "--under", "torch.vmap", "--under", "torch.checkpoint") == {
        "torch.dropout under torch.vmap",
        "torch.dropout under torch.checkpoint",
    }
    assert main(["check", "torch.dropout", "--under", "nosuch", "--dry-run"]) == 2
    assert "unknown variant" in capsys.readouterr().err


USER_TARGETS = """
import jax
import jax.numpy as jnp
import numpy as np
import dropspec


@dropspec.target("dropout", framework="jax", seed_bits=63, rate_one="zeros")
def good(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x
    keep = jax.random.bernoulli(jax.random.key(seed), 1.0 - rate, x.shape)
    scale = jnp.asarray(0.0 if rate == 1 else 1.0 / (1.0 - rate), x.dtype)
    return jnp.where(keep, x * scale, jnp.zeros((), x.dtype))


@dropspec.target("dropout", framework="jax", seed_bits=63, rate_one="zeros")
def needs_int(x, rate, *, training, seed):
    keep = np.random.default_rng(int(seed)).random(x.shape) >= rate
    return jnp.where(keep, x / (1.0 - rate), 0).astype(x.dtype) if training else x
"""


def test_the_plugin_checks_a_users_targets_under_a_variant(tmp_path: Any) -> None:
    """``--dropspec-under jit`` makes each ``--dropspec-target`` a row ``TARGET under jit``
    in the worker processes: a traceable one is checked, one that needs a concrete seed is
    reported as not checked, with the tracer's reason."""
    import json
    import subprocess
    import sys

    pytest.importorskip("jax")
    (tmp_path / "mine.py").write_text(USER_TARGETS)
    targets = ["--dropspec-target=mine.py:good", "--dropspec-target=mine.py:needs_int"]
    options = ["--dropspec-under=jit", "--dropspec-clause=DROPOUT-SHAPE", "--dropspec-jobs=2"]
    pytest_cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    proc = subprocess.run(
        [*pytest_cmd, *targets, *options, "--dropspec-json=r.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    rows = {t["name"]: t for t in json.loads((tmp_path / "r.json").read_text())["targets"]}
    assert set(rows) == {"good under jit", "needs_int under jit"}, out
    shape = {c["id"]: c["outcome"] for c in rows["good under jit"]["clauses"]}
    assert shape == {"DROPOUT-SHAPE": "passed"}, out
    refused = rows["needs_int under jit"]
    assert "needs a concrete one" in str(refused.get("error")), refused
    assert proc.returncode == 1, out  # pytest's: the not-checked clause is a failing item
    assert "could not be checked" in out and "'mine.py:needs_int under jit'" in out


DECLARING = """
import torch
import dropspec


@dropspec.target("dropout", framework="torch", seed_bits=63, variants=("torch.checkpoint",))
def mine(x, rate, *, training, seed):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    if not training:
        return x.clone()
    gen = torch.Generator().manual_seed(seed)
    keep = torch.rand(x.shape, generator=gen, dtype=torch.float64) >= rate
    return x * keep.to(x.dtype) / (1.0 - rate) if rate < 1 else x * 0
"""


@pytest.mark.slow  # four worker processes importing torch: 115 s at load 13
def test_variants_declared_on_a_target_are_checked_as_rows_of_their_own(tmp_path: Any) -> None:
    """``variants=`` on a user's target: ``dropspec check`` and the plugin each check it and
    ``TARGET under VARIANT``, though only a worker process ever loads the target; ``--under``
    on top adds its variant to the target's own row only."""
    import json
    import subprocess
    import sys

    from clirun import by_name, cli, report

    pytest.importorskip("torch")
    (tmp_path / "mine.py").write_text(DECLARING)
    proc = cli(
        "check",
        "mine.py:mine",
        "--clause",
        "DROPOUT-SHAPE",
        "--json",
        "r.json",
        "-j",
        "2",
        cwd=tmp_path,
    )
    rows = by_name(report(tmp_path / "r.json"))
    assert set(rows) == {"mine", "mine under torch.checkpoint"}, proc.stdout + proc.stderr
    assert rows["mine"]["variants"] == ["torch.checkpoint"]
    assert all(c["outcome"] == "passed" for r in rows.values() for c in r["clauses"]), rows
    pytest_cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    proc = subprocess.run(
        [
            *pytest_cmd,
            "--dropspec-target=mine.py:mine",
            "--dropspec-clause=DROPOUT-SHAPE",
            "--dropspec-json=p.json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    names = {t["name"] for t in json.loads((tmp_path / "p.json").read_text())["targets"]}
    assert names == {"mine", "mine under torch.checkpoint"}, proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout


def test_a_layer_is_wrapped_by_the_variants_that_wrap_layers() -> None:
    """A stateful target under torch.checkpoint keeps its state clauses: its layers run each
    call under the checkpoint (the recomputed backward uses the forward's mask); a variant
    that wraps no layer (torch.vmap) leaves the state clauses without a layer to call."""
    torch = pytest.importorskip("torch")
    base = BUILTINS["torch.nn.Dropout (stateful)"]
    assert under(base, "torch.vmap").factory is None
    made = under(base, "torch.checkpoint")
    assert made.factory is not None and made.factory is not base.factory
    layer = made.factory(0.5, seed=3)
    for _ in range(2):  # a second call: the state advanced, the backward still replays
        x = torch.ones(4096, requires_grad=True)
        y = layer(x, training=True)
        (grad,) = torch.autograd.grad(y.sum(), x)
        assert torch.equal(grad != 0, y != 0)


#: benchmarks/variants_soak.py --layers: layers under the variants that wrap their calls.
LAYERS = (
    "torch.nn.Dropout (stateful) under torch.checkpoint",
    "tests/impls_transformed.py:torch_layer under torch.checkpoint",
)


def test_layers_under_a_variant_pass_the_state_clauses_at_the_replay_seed(replay_seed: int) -> None:
    """The CI slice of the 20-seed soak of correct layers under a variant (benchmarks/README.md,
    "Transformed dropout"): torch's layer and an independent one, under torch.checkpoint,
    pass every state clause and the gradient clause at this run's replay seed, in float32."""
    from dataclasses import replace

    from replay import rerun_hint

    from dropspec.conformance import Config, run_target

    pytest.importorskip("torch")
    state = [c.id for c in dropspec.spec.get_op("dropout").clauses if "-STATE-" in c.id]
    assert len(state) >= 4
    for spec in LAYERS:
        t = load_target(spec)
        assert t.error is None and t.factory is not None, spec
        results = run_target(
            replace(t, dtypes=("float32",)),
            clauses=[*state, "DROPOUT-GRADIENT"],
            config=Config(seed=replay_seed),
        )
        bad = [f"{r.clause_id} {r.outcome}: {r.message}" for r in results if r.outcome != "passed"]
        assert len(results) == len(state) + 1 and not bad, (
            f"{spec}: {bad}\n{rerun_hint(replay_seed)}"
        )


def test_a_layer_with_a_private_generator_is_not_replayed_by_torch_checkpoint() -> None:
    """torch.utils.checkpoint restores only torch's global generators for the recomputed
    forward: a layer drawing from a torch.Generator of its own gets a new mask there, and
    the state clause on gradients says so (eagerly the same layer passes it)."""
    from dropspec.conformance import Config, run_target

    pytest.importorskip("torch")
    spec = "tests/impls_transformed.py:private_generator_layer"
    for variant, want in ((None, "passed"), ("torch.checkpoint", "failed")):
        t = load_target(spec if variant is None else joined(spec, variant))
        (r,) = run_target(t, clauses=["DROPOUT-STATE-GRADIENT"], config=Config())
        assert r.outcome == want, (variant, r.message)
        if want == "failed":
            assert "not that call's forward mask" in r.message


def test_nnx_variants_run_a_modules_calls_through_nnx_transforms() -> None:
    """nnx.jit and nnx.vmap wrap the stateful nnx layer's calls: its masks change from call
    to call, its gradient uses its forward's mask, and under nnx.vmap every example draws
    its own mask; a layer that is not an NnxLayer is refused with what to do."""
    pytest.importorskip("flax")
    import jax
    import jax.numpy as jnp

    base = BUILTINS["flax.nnx.Dropout (stateful)"]
    x = jnp.ones((4, 512), jnp.float32)
    for variant in ("nnx.jit", "nnx.vmap"):
        layer = under(base, variant, probe=False).factory(0.5, seed=7)  # type: ignore[misc]
        first, second = layer(x, training=True), layer(x, training=True)
        assert not np.array_equal(np.asarray(first), np.asarray(second)), variant
        y, pull = jax.vjp(lambda v: layer(v, training=True), x)  # noqa: B023
        (grad,) = pull(jnp.ones_like(y))
        assert np.array_equal(np.asarray(grad) != 0, np.asarray(y) != 0), variant
    rows = np.asarray(first) != 0
    assert len({r.tobytes() for r in rows}) == len(rows)
    plain = dropspec.make_stateful_target(
        lambda rate, *, seed: lambda x, *, training: x, "dropout", framework="jax"
    )
    with pytest.raises(TypeError, match="NnxLayer"):
        under(plain, "nnx.jit", probe=False).factory(0.5, seed=1)  # type: ignore[misc]


def test_tf_function_wraps_a_layers_calls_and_runs_keras_stateful_layers() -> None:
    """Under tf.function (with and without XLA) a layer is built outside the trace from the
    int seed, and each of its calls runs inside the traced function, where its state advances;
    ``--variants all`` runs the Keras stateful layers (an environment of their own) under it,
    never their seeded layers, whose seed must be a Python int."""
    tf = pytest.importorskip("tensorflow")
    eager: list[bool] = []  # tf.executing_eagerly() at each trace of a layer's call

    def factory(rate: float, *, seed: int) -> Any:
        state = tf.Variable(seed, dtype=tf.int64)  # made eagerly, as a Keras layer's seed

        def layer(x: Any, *, training: bool) -> Any:
            eager.append(tf.executing_eagerly())
            if not training:
                return tf.identity(x)
            state.assign_add(1)
            return x * tf.cast(state, x.dtype)

        return layer

    t = dropspec.make_stateful_target(factory, "dropout", framework="tensorflow")
    x = tf.ones((3,), tf.float32)
    for variant in ("tf.function", "tf.function.xla"):
        made = under(t, variant, probe=False)
        assert made.factory is not None and made.factory is not t.factory
        layer = made.factory(0.5, seed=10)
        got = [float(layer(x, training=True)[0]) for _ in range(2)]
        assert got == [11.0, 12.0], variant  # the state advances in every traced call
        assert float(layer(x, training=False)[0]) == 1.0
        assert float(layer(x, training=True)[0]) == 13.0, variant  # inference left it alone
        # the seeded convention: a layer built for the call, its one call traced
        assert float(made(x, 0.5, training=True, seed=20)[0]) == 21.0, variant
    assert eager and not any(eager)  # traced, never run eagerly
    every = set(supported(BUILTINS))
    assert joined("keras[tensorflow].layers.Dropout (stateful)", "tf.function") in every
    for variant in ("tf.function", "tf.function.xla"):
        assert joined("keras[tensorflow].layers.Dropout", variant) not in every
    assert not any(s.startswith("keras[jax]") for s in every)


def test_a_variants_declarations_name_its_targets_and_their_clauses() -> None:
    """What a variant declares per built-in target (divergences, their dtypes, holds, targets
    it cannot wrap) names a built-in target of its framework and clauses of that target's op
    that bind it; a hold names an expected failure the target declares itself."""
    for v in VARIANTS.values():
        tables = (v.divergences, v.divergence_dtypes, v.holds, {n: {} for n in v.not_wrappable})
        for table in tables:
            for name, by_clause in table.items():
                t = BUILTINS.get(name)
                assert t is not None and t.framework == v.framework, (v.name, name)
                binding = {c.id for c in dropspec.spec.get_op(t.op).clauses if c.applies(t.options)}
                assert set(by_clause) <= binding, (v.name, name, set(by_clause) - binding)
        for name, held in v.holds.items():
            assert set(held) <= set(BUILTINS[name].expected_failures), (v.name, name)
        for name, scoped in v.divergence_dtypes.items():
            assert set(scoped) <= set(v.divergences.get(name, {})), (v.name, name)
