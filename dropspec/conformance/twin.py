"""A second Python process for the checks that compare a target's outputs across processes
(``*-SEED-PROCESS``): it loads targets by name, as a worker of ``dropspec check`` does, and
calls them on inputs and seeds sent to it. Importing this module imports no framework and no
check; the process imports only what the targets it is sent need.

How the second process finds the target (:func:`job_target`, :func:`rebuild`): by the name or
``file.py:function`` it was loaded by, else by the module whose import declared it
(:attr:`~dropspec.target.Target.origin`: a mutant, a target declared in a test module or a
library) and its place among that module's declarations. Either way it is the target a fresh
import makes, with its own module state (a salt drawn at import, say), and it is used only if
it is the same declaration: the same op, options and function name.

Protocol: one JSON object a line on the process's stdin, ``{"target", "inputs", "out", "rate",
"seeds", "dtypes", "device"}`` (``target`` as :func:`job_target` writes it; ``inputs`` and
``out`` are ``.npz`` paths); one answer a line on its stdout: ``{"op", "options"}`` once the
outputs are written, ``{"unloadable": why}`` if the target cannot be rebuilt there,
``{"error": why}`` if a call raised.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import select
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..dtypes import as_dtype
from ..target import Target, declared_in


class TwinError(RuntimeError):
    """The second process did not answer."""


#: Seconds a second process may take to load a target and answer (its framework's import).
TWIN_TIMEOUT = 300.0


class Twin:
    """A second Python process that loads targets by name and calls them, started on first
    use and kept for the life of this one (one start-up per checking process, not per
    target: a framework is imported there once). It ends when this process closes its stdin.
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            code = "from dropspec.conformance.twin import main; main()"
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
            )
        return self.proc

    def ask(self, job: dict[str, Any]) -> dict[str, Any]:
        proc = self.start()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(job) + "\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], TWIN_TIMEOUT)
        line = proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise TwinError(f"the second process gave no answer within {TWIN_TIMEOUT:.0f} s")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


TWIN = Twin()
atexit.register(TWIN.close)


def main() -> None:
    """The second process's loop: one JSON job a line on stdin, one answer a line."""
    from ..adapters import load_target
    from ..adapters._backend import get_backend, keep_framework_settings

    keep_framework_settings()
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # the target's prints must not reach the protocol
    sys.stdout = sys.stderr
    for line in sys.stdin:
        job = json.loads(line)
        try:
            target = rebuild(job["target"], load_target)
            backend = get_backend(target.framework)
        except BaseException as exc:
            proto.write(json.dumps({"unloadable": f"{type(exc).__name__}: {exc}"}) + "\n")
            continue
        try:
            with np.load(job["inputs"]) as saved:
                arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            outs = []
            with backend.settings():
                for seed in job["seeds"]:
                    args = [
                        backend.asarray(load_dtype(a, d), job["device"])
                        for a, d in zip(arrays, job["dtypes"], strict=True)
                    ]
                    y = target.fn(*args, job["rate"], training=True, seed=seed)
                    if isinstance(y, (tuple, list)):  # (output, weights): the output
                        y = y[0]
                    outs.append(save_dtype(backend.to_numpy(y)))
            np.savez(job["out"], *outs)
            answer = {"op": target.op, "options": jsonable(dict(target.options))}
        except BaseException as exc:  # the answer says what went wrong
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        proto.write(json.dumps(answer) + "\n")


def job_target(target: Target) -> dict[str, Any]:
    """What the second process needs to rebuild ``target`` (see :func:`rebuild`): the name it
    was loaded by, the module whose import declared it and its place among that module's
    declarations (the first with the same function and options), and what must match."""
    index = next(
        (
            i
            for i, t in enumerate(declared_in(target.origin))
            if t.fn is target.fn and t.op == target.op and t.options == target.options
        ),
        None,
    )
    return {
        "spec": target.source or target.name,
        "origin": target.origin if index is not None else "",
        "index": index,
        "op": target.op,
        "options": jsonable(dict(target.options)),
        "function": _function_name(target),
        "path": [p for p in sys.path if p],  # where this process found the origin module
    }


class Unrebuildable(Exception):
    """No way to rebuild a target in the second process gave the same declaration."""


def rebuild(job: dict[str, Any], load: Callable[[str], Target]) -> Target:
    """The target :func:`job_target` describes, made in this process: loaded by name with
    ``load`` (``adapters.load_target``), else taken from its origin module's declarations
    once imported here; either only if it declares the same op, options and function."""
    tried: list[str] = []

    def same(t: Target, how: str) -> bool:
        mine = (t.op, jsonable(dict(t.options)), _function_name(t))
        if mine == (job["op"], job["options"], job["function"]):
            return True
        tried.append(f"{how} gives another declaration (op, options or function)")
        return False

    try:
        loaded = load(job["spec"])
        if same(loaded, f"loading {job['spec']!r}"):
            return loaded
    except Exception as exc:
        tried.append(f"loading {job['spec']!r}: {type(exc).__name__}: {exc}")
    origin: str = job["origin"]
    index: int = job["index"] or 0
    if origin:
        sys.path += [p for p in job["path"] if p not in sys.path]
        importlib.import_module(origin)
        found = declared_in(origin)
        if index < len(found) and same(found[index], f"importing {origin}"):
            return found[index]
        if index >= len(found):
            tried.append(f"importing {origin} declares {len(found)} target(s), not {index + 1}")
    else:
        tried.append("it was not declared by a module's import (it was made in a function)")
    raise Unrebuildable("; ".join(tried))


def _function_name(target: Target) -> str:
    return str(getattr(target.fn, "__qualname__", type(target.fn).__qualname__))


def save_dtype(a: np.ndarray) -> np.ndarray:
    """bfloat16 travels as its bits (``np.savez`` keeps only NumPy's own dtypes)."""
    return a.view(np.uint16) if a.dtype == as_dtype("bfloat16") else a


def load_dtype(a: np.ndarray, dtype: str) -> np.ndarray:
    return a.view(as_dtype(dtype)) if dtype == "bfloat16" else a


def jsonable(options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(options, default=str))
    return out
