"""Draw the docs' figures from the NumPy reference's real masks and outputs.

Run by the docs build (``builder-inited``) and by hand::

    python docs/figures.py [OUTDIR]          # default: docs/_generated/figures

Every figure uses fixed seeds, so a rebuild redraws the same pictures.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from dropspec import reference as ref
from dropspec.reference import expectations as ex

HERE = Path(__file__).resolve().parent
KEPT, DROPPED, UNIT, OFF = "#2d5f8b", "#d0d4d8", "#f2c94c", "#e6e6e6"
plt.rcParams.update(
    {
        "font.size": 9,
        "axes.titlesize": 10,
        "figure.dpi": 110,
        "svg.hashsalt": "dropspec",
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)


def save(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` as SVG: sharp at any width and zoom (a raster embedded in it, such as
    a mask matrix, at 2x)."""
    fig.savefig(path, dpi=220, bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return path


# ------------------------------------------------------------ 5-4-3 network ----

LAYERS = (5, 4, 3)


def positions() -> list[list[tuple[float, float]]]:
    return [[(i * 2.0, (n - 1) / 2 - j) for j in range(n)] for i, n in enumerate(LAYERS)]


def draw_net(
    ax: plt.Axes, w_masks: list[np.ndarray], unit_on: list[np.ndarray], title: str
) -> None:
    """w_masks[l][o, i]: connection i -> o of layer l kept; unit_on[l][j]: unit j is live."""
    pos = positions()
    for li, m in enumerate(w_masks):
        for o in range(m.shape[0]):
            for i in range(m.shape[1]):
                (x0, y0), (x1, y1) = pos[li][i], pos[li + 1][o]
                kept = bool(m[o, i])
                ax.plot(
                    [x0, x1],
                    [y0, y1],
                    color=KEPT if kept else DROPPED,
                    lw=1.4 if kept else 0.9,
                    ls="-" if kept else (0, (2, 2)),
                    zorder=1,
                )
    colors = ["#cfe3f3", UNIT, "#d8ecd2"]
    for li, layer in enumerate(pos):
        for j, (x, y) in enumerate(layer):
            on = bool(unit_on[li][j])
            ax.scatter(
                [x],
                [y],
                s=260,
                color=colors[li] if on else OFF,
                edgecolors="#333" if on else "#aaa",
                zorder=2,
                linewidths=1,
            )
            if not on:
                ax.plot([x - 0.15, x + 0.15], [y - 0.15, y + 0.15], color="#a33", lw=1.5, zorder=3)
                ax.plot([x - 0.15, x + 0.15], [y + 0.15, y - 0.15], color="#a33", lw=1.5, zorder=3)
    ax.set_title(title)
    ax.set_xlim(-0.6, 4.6)
    ax.set_ylim(-2.6, 2.6)
    ax.axis("off")


def dropout_masks(seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    _, keep = ref.dropout(np.ones((1, 4)), 0.5, seed=seed, return_mask=True)
    h = keep[0]
    # A dropped hidden unit outputs 0: its incoming products are wasted, its outgoing ones are 0.
    return (
        [np.repeat(h[:, None], 5, axis=1), np.repeat(h[None, :], 3, axis=0)],
        [np.ones(5, bool), h, np.ones(3, bool)],
    )


def dropconnect_masks(seed: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1, 5))
    w1, b1, w2, b2 = (rng.normal(size=s) for s in ((4, 5), (4,), (3, 4), (3,)))
    h, m1 = ref.dropconnect(x, w1, b1, 0.5, seed=seed, return_mask=True)
    _, m2 = ref.dropconnect(h, w2, b2, 0.5, seed=seed + 1, return_mask=True)
    wm = [m1["weight"][0], m2["weight"][0]]
    bm = [m1["bias"][0], m2["bias"][0]]
    # A hidden unit whose every incoming weight and bias is dropped is a dropped unit.
    live = ~((~wm[0]).all(axis=1) & ~bm[0])
    return wm, bm, [np.ones(5, bool), live, np.ones(3, bool)]


def isolated_seed() -> int:
    """The first seed whose DropConnect masks drop all of one hidden unit's inputs."""
    for seed in range(1000):
        wm, _, _ = dropconnect_masks(seed)
        if (~wm[0]).all(axis=1).any():
            return seed
    raise RuntimeError("no seed below 1000 isolates a hidden unit")


def fig_network(out: Path) -> Path:
    fig, axes = plt.subplots(2, 2, figsize=(8.2, 6.2))
    iso = isolated_seed()
    for row, (d_seed, c_seed) in enumerate(((3, 11), (5, iso))):
        w, units = dropout_masks(d_seed)
        n_off = int((~units[1]).sum())
        draw_net(
            axes[row, 0], w, units, f"dropout, example {row + 1}: {n_off} of 4 hidden units dropped"
        )
        wm, _, live = dropconnect_masks(c_seed)
        kept = int(wm[0].sum() + wm[1].sum())
        note = ""
        if not live[1].all():
            j = int(np.flatnonzero(~live[1])[0]) + 1
            note = f"\nhidden unit {j} lost every input and its bias: dropped"
        elif (~wm[0]).all(axis=1).any():
            j = int(np.flatnonzero((~wm[0]).all(axis=1))[0]) + 1
            note = f"\nhidden unit {j} lost every input (only its bias is left)"
        draw_net(
            axes[row, 1],
            wm,
            live,
            f"DropConnect, example {row + 1}: {kept} of 32 weights kept{note}",
        )
    fig.suptitle("One 5-4-3 network, rate 0.5, masks drawn by dropspec.reference", y=0.995)
    fig.tight_layout()
    return save(fig, out / "network_5_4_3.svg")


def typical_mask(n: int, dropped: int) -> np.ndarray:
    """The first reference dropout mask (rate 0.5) over n units that drops exactly ``dropped``."""
    for seed in range(1000):
        _, keep = ref.dropout(np.ones((1, n)), 0.5, seed=seed, return_mask=True)
        if int((~keep).sum()) == dropped:
            return np.asarray(keep)
    raise RuntimeError("no such seed below 1000")


def fig_mask_matrices(out: Path) -> Path:
    keep_in = typical_mask(5, 2)
    keep_out = typical_mask(4, 2)
    rng = np.random.default_rng(0)
    _, m = ref.dropconnect(
        rng.normal(size=(1, 5)),
        rng.normal(size=(4, 5)),
        rng.normal(size=4),
        0.5,
        seed=2,
        return_mask=True,
    )
    panels = [
        (
            "dropout on the 5 inputs:\nwhole columns of W",
            np.repeat(keep_in, 4, axis=0),
            np.ones(4, bool),
            "2^5 = 32 masks",
        ),
        (
            "dropout on the 4 outputs:\nwhole rows of W and b",
            np.repeat(keep_out.T, 5, axis=1),
            keep_out[0],
            "2^4 = 16 masks",
        ),
        (
            "DropConnect:\neach weight and bias entry",
            m["weight"][0],
            m["bias"][0],
            "2^(20+4) ≈ 1.7e7 masks",
        ),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(9.0, 2.9))
    cmap = matplotlib.colors.ListedColormap([DROPPED, KEPT])
    for ax, (title, wmask, bmask, count) in zip(axes, panels, strict=True):
        full = np.concatenate([wmask, bmask[:, None]], axis=1).astype(int)
        ax.imshow(full, cmap=cmap, vmin=0, vmax=1)
        ax.axvline(4.5, color="white", lw=3)
        ax.set_xticks(range(6), [f"in {i + 1}" for i in range(5)] + ["b"], fontsize=7)
        ax.set_yticks(range(4), [f"out {o + 1}" for o in range(4)], fontsize=7)
        ax.set_title(title)
        ax.set_xlabel(count)
        for s in ax.spines.values():
            s.set_visible(False)
    fig.suptitle("The mask on a 4x5 weight matrix W (and bias b): blue kept, grey dropped", y=1.04)
    fig.tight_layout()
    return save(fig, out / "mask_matrices.svg")


# ------------------------------------------------------------ distributions ----


def fig_drop_counts(out: Path) -> Path:
    rate, k, n = 0.3, 20, 20_000
    counts = np.zeros(n, dtype=int)
    for seed in range(k):
        _, keep = ref.dropout(np.ones(n), rate, seed=seed, return_mask=True)
        counts += ~keep
    calls, size = 400, 1000
    per_call = np.array(
        [
            (~ref.dropout(np.ones(size), rate, seed=10_000 + s, return_mask=True)[1]).sum()
            for s in range(calls)
        ]
    )
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.2))
    ks = np.arange(k + 1)
    obs = np.bincount(counts, minlength=k + 1)
    axes[0].bar(ks, obs, color="#9ec5e8", label=f"observed ({n:,} elements)")
    axes[0].plot(
        ks,
        stats.binom.pmf(ks, k, rate) * n,
        "o-",
        color="#a33",
        ms=3,
        label=f"Binomial({k}, {rate}) × {n:,}",
    )
    axes[0].set_xlabel(f"times an element was dropped in {k} calls")
    axes[0].set_ylabel("elements")
    axes[0].set_title("per-element drop counts across calls")
    axes[0].legend(frameon=False)
    lo, hi = per_call.min() - 5, per_call.max() + 5
    axes[1].hist(
        per_call, bins=np.arange(lo, hi, 5), color="#9ec5e8", label=f"observed ({calls} calls)"
    )
    grid = np.arange(lo, hi)
    axes[1].plot(
        grid,
        stats.binom.pmf(grid, size, rate) * calls * 5,
        color="#a33",
        label=f"Binomial({size}, {rate})",
    )
    axes[1].set_xlabel(f"elements dropped in one call of {size}")
    axes[1].set_ylabel("calls")
    axes[1].set_title("drops per call")
    axes[1].legend(frameon=False)
    fig.tight_layout()
    return save(fig, out / "drop_counts.svg")


def fig_alpha(out: Path) -> Path:
    n = 200_000
    x = np.random.default_rng(1).standard_normal(n)
    rate = 0.2
    y = ref.alpha_dropout(x, rate, seed=3)
    a, b = ref.alpha_constants(rate)
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.2))
    axes[0].hist(y, bins=120, density=True, color="#9ec5e8", label="observed")
    grid = np.linspace(y.min(), y.max(), 400)
    axes[0].plot(
        grid,
        (1 - rate) * stats.norm.pdf(grid, b, a),
        color="#a33",
        label=f"kept: {1 - rate:g}·N(b, a²)",
    )
    spike = a * ref.ALPHA_PRIME + b
    axes[0].axvline(
        spike, color="#333", ls="--", lw=1, label=f"dropped: a·α′ + b = {spike:.3f} ({rate:.0%})"
    )
    axes[0].set_title(f"alpha dropout of N(0, 1) input, rate {rate}")
    axes[0].set_xlabel("output y")
    axes[0].set_ylabel("density")
    axes[0].legend(frameon=False, fontsize=7)
    rates = np.linspace(0.05, 0.9, 18)
    means, vars_, se_m, se_v = [], [], [], []
    for i, r in enumerate(rates):
        yr = ref.alpha_dropout(x, float(r), seed=100 + i)
        means.append(yr.mean())
        vars_.append((yr**2).mean())
        se_m.append(1 / np.sqrt(n))
        se_v.append(np.sqrt((ex.alpha_moments(float(r), 4) - 1.0) / n))
    axes[1].errorbar(
        rates, means, yerr=3 * np.array(se_m), fmt="o", ms=3, color=KEPT, label="mean (±3 s.e.)"
    )
    axes[1].errorbar(
        rates, vars_, yerr=3 * np.array(se_v), fmt="s", ms=3, color="#a33", label="E[y²] (±3 s.e.)"
    )
    axes[1].axhline(0, color=KEPT, lw=0.8)
    axes[1].axhline(1, color="#a33", lw=0.8)
    axes[1].set_xlabel("rate")
    axes[1].set_ylabel("moment of y")
    axes[1].set_title(f"moments stay at 0 and 1 ({n:,} samples each)")
    axes[1].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return save(fig, out / "alpha_moments.svg")


def fig_gaussian(out: Path) -> Path:
    rate, n = 0.3, 200_000
    x = np.ones(n)
    g = ref.gaussian_dropout(x, rate, seed=5)
    _, keep = ref.dropout(x, rate, seed=6, return_mask=True)
    bern = keep / (1 - rate)
    fig, ax = plt.subplots(figsize=(6.0, 3.0))
    ax.hist(g, bins=120, density=True, color="#9ec5e8", label="Gaussian dropout y/x (observed)")
    grid = np.linspace(g.min(), g.max(), 400)
    sd = ref.gaussian_std(rate)
    ax.plot(grid, stats.norm.pdf(grid, 1, sd), color="#a33", label=f"N(1, {sd**2:.3f})")
    for v, frac in ((0.0, rate), (1 / (1 - rate), 1 - rate)):
        ax.vlines(v, 0, frac * 1.2, color="#333", lw=2)
    ax.text(-0.9, rate * 1.2 + 0.02, f"Bernoulli: {np.mean(bern == 0):.1%} at 0", fontsize=7)
    ax.text(
        1 / (1 - rate) + 0.06,
        (1 - rate) * 1.2 - 0.03,
        f"Bernoulli: {np.mean(bern > 0):.1%} at 1/(1 - rate)",
        fontsize=7,
    )
    ax.set_title(
        f"multipliers at rate {rate}: same mean 1 and variance "
        f"{rate / (1 - rate):.3f}, different shape"
    )
    ax.set_xlabel("multiplier y/x")
    ax.set_ylabel("density")
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    fig.tight_layout()
    return save(fig, out / "gaussian_dropout.svg")


def fig_moment_matching(out: Path) -> Path:
    rng = np.random.default_rng(11)
    n_in, batch, rate = 64, 4000, 0.5
    x = rng.normal(size=(1, n_in))
    w = rng.normal(scale=1 / np.sqrt(n_in), size=(1, n_in))
    opts = dict(scaling="classic", masks="per_example", mask_bias=True)
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.3))
    b0 = np.array([0.2])
    u = ref.dropconnect(np.repeat(x, 20_000, axis=0), w, b0, rate, seed=1, **opts)[:, 0]
    mu, var = ex.dropconnect_moments(x, w, b0, rate, scaling="classic", mask_bias=True)
    axes[0].hist(u, bins=100, density=True, color="#9ec5e8", label="training pre-activations")
    grid = np.linspace(u.min(), u.max(), 300)
    axes[0].plot(
        grid,
        stats.norm.pdf(grid, mu[0, 0], np.sqrt(var[0, 0])),
        color="#a33",
        label="N(μ, σ²) matched to them",
    )
    axes[0].set_title("one unit, 64 inputs, 20,000 DropConnect masks")
    axes[0].set_xlabel("pre-activation u")
    axes[0].set_ylabel("density")
    axes[0].legend(frameon=False, fontsize=7)
    # Sweep the bias, left unmasked here so that σ stays fixed while μ moves.
    opts = dict(scaling="classic", masks="per_example", mask_bias=False)
    mu0, var0 = ex.dropconnect_moments(x, w, np.zeros(1), rate, scaling="classic", mask_bias=False)
    sd = float(np.sqrt(var0[0, 0]))
    biases = np.linspace(-3, 3, 25) * sd - float(mu0[0, 0])
    mc, mm, mm_ref, mean_rule, ratio = [], [], [], [], []
    for i, b in enumerate(biases):
        bb = np.array([b])
        pre = ref.dropconnect(np.repeat(x, batch, axis=0), w, bb, rate, seed=50 + i, **opts)[:, 0]
        mc.append(np.maximum(pre, 0).mean())
        m_, v_ = ex.dropconnect_moments(x, w, bb, rate, scaling="classic", mask_bias=False)
        mm.append(ex.gaussian_activation_moments(m_, np.sqrt(v_), "relu")[0][0, 0])
        mm_ref.append(
            ref.dropconnect(
                x,
                w,
                bb,
                rate,
                training=False,
                seed=90 + i,
                inference="moment_matching",
                activation="relu",
                samples=1000,
                **opts,
            )[0, 0]
        )
        mean_rule.append(max(m_[0, 0], 0.0))
        ratio.append(m_[0, 0] / np.sqrt(v_[0, 0]))
    axes[1].plot(ratio, mc, "o", ms=4, color="#333", label="Monte Carlo over masks (truth)")
    axes[1].plot(ratio, mm, "-", color="#a33", label="moment matching, exact E[relu(u)]")
    axes[1].plot(ratio, mm_ref, "x", ms=4, color="#a33", label="reference inference, 1000 draws")
    axes[1].plot(ratio, mean_rule, "--", color=KEPT, label="mean rule relu(μ)")
    axes[1].set_xlabel("μ/σ of the unit's pre-activation")
    axes[1].set_ylabel("expected output")
    axes[1].set_title("inference for a ReLU unit (bias unmasked, σ fixed)")
    axes[1].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return save(fig, out / "moment_matching.svg")


FIGURES: tuple[Callable[[Path], Path], ...] = (
    fig_network,
    fig_mask_matrices,
    fig_drop_counts,
    fig_alpha,
    fig_gaussian,
    fig_moment_matching,
)


def data_key() -> str:
    """A hash of everything the figures are drawn from: this file, the reference's sources
    and matplotlib's version. The figures are redrawn only when it changes."""
    digest = hashlib.sha256(matplotlib.__version__.encode())
    for path in [Path(__file__), *sorted(Path(ref.__file__).parent.glob("*.py"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main(outdir: Path | str = HERE / "_generated" / "figures") -> list[Path]:
    """Draw every figure into ``outdir``, unless the figures there were drawn from the same
    data (``data_key``); the paths of the figures."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    stamp, key = out / ".data-key", data_key()
    drawn = sorted(out.glob("*.svg"))
    if stamp.is_file() and stamp.read_text() == key and len(drawn) == len(FIGURES):
        return drawn
    for old in out.glob("*"):
        old.unlink()
    paths = [draw(out) for draw in FIGURES]
    stamp.write_text(key)
    return paths


if __name__ == "__main__":
    for p in main(*sys.argv[1:2]):
        print(p)
