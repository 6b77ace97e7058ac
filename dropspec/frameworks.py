"""The frameworks a target may run on: one row each, the only place a framework is named.

Adding a framework is one adapter module (its :class:`~dropspec.adapters.Backend` and its
built-in targets) plus one row here. Everything that needs a framework looks it up in
:data:`FRAMEWORKS`: :func:`dropspec.target.make_target` validates ``framework=`` against it,
:func:`dropspec.adapters.get_backend` imports the row's ``backend``,
:func:`dropspec.adapters.builtin_targets` loads the row's ``adapters``, and the statistical
reductions (:func:`dropspec.conformance.reduce.namespace`) import the row's ``namespace``
for arrays that array-api-compat does not know. The dotted paths are imported on first use,
never at import, so this module (in the target layer) depends on nothing above it and
importing it imports no framework.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    """One framework: how to find it, report it, install it, and where its adapters live."""

    #: What a target declares as ``framework=``.
    name: str
    #: The module it is imported as (whether it is installed is whether this is found).
    module: str
    #: Distributions that install ``module``, tried in order for its version (the module's
    #: ``__version__`` when none is installed as a distribution).
    distributions: tuple[str, ...]
    #: What to run to install it, shown when a target needs it and it is missing.
    install_hint: str
    #: ``"module:attribute"`` of its :class:`~dropspec.adapters.Backend` object.
    backend: str
    #: Adapter modules whose built-in targets run on it, in the order ``dropspec list`` and
    #: ``dropspec check --all`` show them (a library adapter that spans frameworks, like
    #: Keras, is listed under one of them: the one its module needs first).
    adapters: tuple[str, ...]
    #: ``"module:function"`` giving the array-API namespace of one of its arrays (None for
    #: anything else), where array-api-compat has none; None when array-api-compat has one.
    namespace: str | None = None


#: Every framework, in matrix order.
FRAMEWORKS: dict[str, Framework] = {
    row.name: row
    for row in (
        Framework(
            name="numpy",
            module="numpy",
            distributions=("numpy",),
            install_hint="pip install numpy",
            backend="dropspec.adapters._backend:NUMPY",
            adapters=("dropspec.adapters.reference", "dropspec.adapters.stateful"),
        ),
        Framework(
            name="torch",
            module="torch",
            distributions=("torch",),
            install_hint=(
                "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu "
                "(CPU build)"
            ),
            backend="dropspec.adapters.fw_torch:BACKEND",
            adapters=("dropspec.adapters.fw_torch", "dropspec.adapters.fw_thirdparty"),
        ),
        Framework(
            name="tensorflow",
            module="tensorflow",
            # tensorflow-cpu and tensorflow install the same module; report whichever is there
            distributions=("tensorflow-cpu", "tensorflow"),
            install_hint="pip install tensorflow-cpu (or tensorflow, for GPUs)",
            backend="dropspec.adapters.fw_tensorflow:BACKEND",
            adapters=("dropspec.adapters.fw_tensorflow", "dropspec.adapters.fw_keras"),
            namespace="dropspec.adapters.fw_tensorflow:array_namespace",
        ),
        Framework(
            name="jax",
            module="jax",
            distributions=("jax",),
            install_hint="pip install jax flax equinox dm-haiku",
            backend="dropspec.adapters.fw_jax:BACKEND",
            adapters=("dropspec.adapters.fw_jax",),
        ),
        Framework(
            name="onnxruntime",
            module="onnxruntime",
            distributions=("onnxruntime",),
            install_hint="pip install onnxruntime==1.31.1 onnx==1.23.2",
            backend="dropspec.adapters.fw_onnxruntime:BACKEND",
            adapters=("dropspec.adapters.fw_onnxruntime",),
        ),
        Framework(
            name="paddle",
            module="paddle",
            distributions=("paddlepaddle",),
            install_hint="pip install paddlepaddle==3.3.1 (CPU build)",
            backend="dropspec.adapters.fw_paddle:BACKEND",
            adapters=("dropspec.adapters.fw_paddle",),
        ),
        Framework(
            name="mlx",
            module="mlx.core",
            distributions=("mlx",),
            install_hint='pip install "mlx[cpu]==0.32.4" (the CPU backend on Linux)',
            backend="dropspec.adapters.fw_mlx:BACKEND",
            adapters=("dropspec.adapters.fw_mlx",),
        ),
        Framework(
            name="tinygrad",
            module="tinygrad",
            distributions=("tinygrad",),
            install_hint="pip install tinygrad==0.14.0 (its CPU device needs clang)",
            backend="dropspec.adapters.fw_tinygrad:BACKEND",
            adapters=("dropspec.adapters.fw_tinygrad",),
        ),
    )
}


#: Import name -> the distribution that installs it, where they differ by more than ``_``
#: against ``-`` (what ``pip install`` takes, and what a version is read from).
DISTRIBUTIONS: dict[str, str] = {
    "haiku": "dm-haiku",
    "torchnlp": "pytorch-nlp",
    "sklearn": "scikit-learn",
}


def distribution(module: str) -> str:
    """The distribution ``pip install`` takes for the top-level module ``module``."""
    top = module.split(".")[0]
    return DISTRIBUTIONS.get(top, top.replace("_", "-"))


def install_command(modules: list[str] | tuple[str, ...]) -> str:
    """``pip install ...`` for the modules a target requires (by their distributions)."""
    return "pip install " + " ".join(dict.fromkeys(distribution(m) for m in modules))


def get_framework(name: str) -> Framework:
    """The row of ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    try:
        return FRAMEWORKS[name]
    except KeyError:
        raise ValueError(
            f"unknown framework {name!r}; use one of {', '.join(FRAMEWORKS)}"
        ) from None


def adapter_modules() -> tuple[str, ...]:
    """Every adapter module, in matrix order (each once)."""
    return tuple(dict.fromkeys(m for row in FRAMEWORKS.values() for m in row.adapters))


__all__ = [
    "DISTRIBUTIONS",
    "FRAMEWORKS",
    "Framework",
    "adapter_modules",
    "distribution",
    "get_framework",
    "install_command",
]
