"""The replay seed: one base seed per CI run, derived from the commit, printed by pytest.

The mutation corpus and the correct implementations are checked at the default base seed and,
on every run, at one more base seed that changes with the code: so a catch (or a pass) that
hangs on a lucky seed is found as the project moves, yet any run can be repeated exactly.

- ``DROPSPEC_REPLAY_SEED=<int>`` sets it (decimal or 0x-hex, below 2^64), to repeat a run;
- otherwise the first 48 bits of the checked-out commit (``git rev-parse HEAD``);
- without git (an unpacked source archive), the first 48 bits of a SHA-256 over the package
  and test sources, which changes with the code as a commit would.

``tests/conftest.py`` prints the seed and where it came from in pytest's header and closing
summary; the tests that use it name it in their failure messages. The fixed base seeds 0-4
(``FIXED_SEEDS``) are replayed in the slow tier.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = "DROPSPEC_REPLAY_SEED"
#: Base seeds replayed by the slow tier, on every CI run.
FIXED_SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
#: Bits of the commit (or source hash) taken as the seed.
BITS = 48


def parse(value: str) -> int:
    """A seed from ``DROPSPEC_REPLAY_SEED``; ValueError naming the variable if it is not one."""
    try:
        seed = int(value.strip(), 0)
    except ValueError:
        raise ValueError(f"{ENV}={value!r} is not an integer") from None
    if not 0 <= seed < 2**64:
        raise ValueError(f"{ENV}={value!r} is not in [0, 2**64)")
    return seed


def from_hex(digest: str) -> int:
    return int(digest[: BITS // 4], 16)


def git_head(root: Path = ROOT) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    head = proc.stdout.strip()
    if proc.returncode != 0 or len(head) < BITS // 4:
        return None
    try:
        int(head, 16)
    except ValueError:
        return None
    return head


def source_digest(root: Path = ROOT) -> str:
    """SHA-256 over the paths and contents of the package's and the tests' Python files."""
    h = hashlib.sha256()
    for path in sorted([*root.glob("dropspec/**/*.py"), *root.glob("tests/**/*.py")]):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def derive(env: Mapping[str, str], root: Path = ROOT) -> tuple[int, str]:
    """(seed, where it came from)."""
    if env.get(ENV, "").strip():
        return parse(env[ENV]), f"from {ENV}"
    head = git_head(root)
    if head is not None:
        return from_hex(head), f"from commit {head[:12]}"
    return from_hex(source_digest(root)), "no git: from a hash of the sources"


@functools.cache
def replay_seed() -> tuple[int, str]:
    """This run's replay seed and its origin (computed once per process)."""
    return derive(os.environ)


def rerun_hint(seed: int) -> str:
    return f"repeat with {ENV}={seed} python -m pytest -m 'slow or not slow' tests"
