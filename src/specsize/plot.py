"""PNG plots of a plan report (matplotlib, the optional extra `specsize[plot]`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from specsize.errors import SpecsizeError


def check_plot_path(path: str | Path) -> Path:
    """Refuse a bad --plot target before any work is done (so no report is lost to it)."""
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise SpecsizeError(f"--plot writes a PNG: give a file name ending in .png, got {out.name!r}")
    if not out.parent.resolve().is_dir():
        raise SpecsizeError(f"--plot {out}: the folder {out.parent} does not exist")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SpecsizeError("--plot needs matplotlib: pip install 'specsize[plot]'") from None
    return out


def plan_plot(report: dict[str, Any], path: str | Path) -> Path:
    """Left: speedup vs concurrency per GPU type. Right: tokens/s per GPU vs tokens/s per user (the
    throughput-latency frontier), plain and speculative."""
    out = check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    spec = report["spec"] != "none"
    fitting = [g for g in report["gpus"] if g["fits"]]
    for g, color in zip(fitting, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4, strict=False):
        c = g["curve"]
        label = f"{g['gpu']} {g['recommended']['layout']['text']}"
        b = [p["concurrency"] for p in c]
        if spec:
            left.plot(b, [p["speedup"] for p in c], marker="o", color=color, label=label)
        right.plot([p["tok_s_per_user"] for p in c], [p["tok_s_per_gpu"] for p in c], marker=".", color=color,
                   label=label)  # fmt: skip
        if spec:
            right.plot([p["spec_tok_s_per_user"] for p in c], [p["spec_tok_s_per_gpu"] for p in c], marker="o",
                       linestyle="--", color=color, label=f"{label} + {report['spec']}")  # fmt: skip
    left.axhline(1.0, color="grey", linewidth=0.8)
    left.set_xscale("log", base=2)
    left.set_xlabel("concurrent requests")
    left.set_ylabel(f"speedup of {report['spec']}" if spec else "no speculative method")
    left.set_title("speculative speedup vs concurrency")
    right.set_xlabel("output tokens/s per user")
    right.set_ylabel("output tokens/s per GPU")
    right.set_title("throughput vs latency")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{report['model']} {report['weights']} on {report['engine']}")
    return _save(fig, out)


def validate_plot(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Predicted vs measured output tok/s per GPU (left) and per user (right), log-log, one colour per engine,
    the y = x line and +-25% bands."""
    out = check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.4))
    engines = sorted({r["engine"] for r in rows if not r["reason"]})
    colors = dict(zip(engines, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for ax, metric, title in zip(axes, ("output_tok_s_per_gpu", "output_tok_s_per_user"),
                                 ("output tokens/s per GPU", "output tokens/s per user"), strict=True):  # fmt: skip
        lo, hi = float("inf"), 0.0
        for e in engines:
            pts = [r["metrics"][metric] for r in rows if r["engine"] == e and not r["reason"]  # scored only
                   and r["metrics"].get(metric, {}).get("error") is not None]  # fmt: skip
            xs, ys = [p["measured"] for p in pts], [p["predicted"] for p in pts]
            if xs:
                lo, hi = min(lo, *xs, *ys), max(hi, *xs, *ys)
                ax.scatter(xs, ys, s=9, alpha=0.6, color=colors[e], label=f"{e} ({len(xs)})")
        if hi > 0:
            line = [lo / 1.5, hi * 1.5]
            ax.plot(line, line, color="black", linewidth=0.9, label="y = x")
            ax.fill_between(line, [v * 0.75 for v in line], [v * 1.25 for v in line], color="grey", alpha=0.15,
                            label="+-25%")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"measured {title}")
        ax.set_ylabel(f"predicted {title}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle("specsize validate: predicted vs measured R1 serving")
    return _save(fig, out)


def _save(fig, out: Path) -> Path:
    """Write the figure (one line on failure) and free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        fig.savefig(out, dpi=110)
    except OSError as e:
        raise SpecsizeError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
    return out
