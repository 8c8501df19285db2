"""Figures of the benchmark runs (matplotlib, Agg backend): one PNG per run."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .common import MODELS  # noqa: E402
from .metrics import by_model, inflight_series, rate_series  # noqa: E402


def _bucket(span: float) -> float:
    """About 80 buckets over the run, rounded to a readable size."""
    raw = max(span / 80.0, 0.05)
    for b in (0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10):
        if raw <= b:
            return b
    return 10.0


def plot_run(path, title: str, arrivals: list[dict], t0: float, t1: float, limits: dict | None,
             solved_ts=None, marks: list[tuple[float, str]] | None = None,
             spans: list[tuple[float, float, str]] | None = None, concurrency: int | None = None,
             bucket: float | None = None, ref_limits: dict | None = None,
             inflight_models: set | None = None) -> None:
    """Top: all calls per second arriving at the backend, answers written per second, and calls
    in flight (right axis). Below: one panel per model, its calls per second against its limit
    (rpm / 60, dashed red) when one is configured. ``marks``: vertical lines (time, colour);
    ``spans``: shaded intervals (start, end, colour). ``ref_limits``: another run's limits, drawn
    in grey for comparison. ``inflight_models``: models whose calls in flight are drawn (orange,
    right axis) against their max_inflight (dotted). Times are benchmark seconds since t0."""
    span = max(t1 - t0, 1e-3)
    b = bucket or _bucket(span)
    fig = plt.figure(figsize=(13, 14), dpi=90)
    gs = fig.add_gridspec(6, 2, height_ratios=[1.6, 1, 1, 1, 1, 1], hspace=0.55, wspace=0.2,
                          left=0.06, right=0.94, top=0.93, bottom=0.04)
    ax0 = fig.add_subplot(gs[0, :])
    all_ts = np.array([r["ts"] for r in arrivals])
    x, y = rate_series(all_ts, t0, t1, b)
    ax0.step(x, y, where="post", color="tab:blue", lw=1.2, label="calls arriving at backend /s")
    if solved_ts is not None and len(solved_ts):
        xs, ys = rate_series(np.asarray(solved_ts), t0, t1, b)
        ax0.step(xs, ys, where="post", color="tab:green", lw=1.0, alpha=0.8,
                 label="answers written /s")
    ax0.set_ylabel("per second")
    ax0.set_xlim(0, span)
    ax0.set_ylim(bottom=0)
    ax2 = ax0.twinx()
    xi, yi = inflight_series(arrivals, t0, t1, max(b / 2, 0.02))
    ax2.plot(xi, yi, color="tab:orange", lw=0.9, alpha=0.8, label="calls in flight (right)")
    if concurrency:
        ax2.axhline(concurrency, color="tab:orange", ls=":", lw=0.8)
    ax2.set_ylabel("in flight")
    ax2.set_ylim(bottom=0, top=max(float(yi.max()) if yi.size else 1, concurrency or 0) * 1.15)
    h1, l1 = ax0.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax0.legend(h1 + h2, l1 + l2, loc="upper right", fontsize=8, framealpha=0.85)
    ax0.set_title(f"{title}\n(bucket {b:g} s; times are benchmark seconds since start)",
                  fontsize=10)
    for t, c in marks or []:
        ax0.axvline(t - t0, color=c, lw=0.7, alpha=0.7)
    for s0, s1, c in spans or []:
        ax0.axvspan(s0 - t0, s1 - t0, color=c, alpha=0.12, lw=0)

    ts_by = by_model(arrivals)
    for k, m in enumerate(MODELS):
        ax = fig.add_subplot(gs[1 + k // 2, k % 2], sharex=ax0)
        ts = ts_by.get(m, np.zeros(0))
        xm, ym = rate_series(ts, t0, t1, b)
        ax.step(xm, ym, where="post", color="tab:blue", lw=1.0)
        top = float(ym.max()) if ym.size else 1.0
        lim = (limits or {}).get(m)
        label = m
        if lim is not None and lim.rpm < 1e6:
            ax.axhline(lim.rpm / 60.0, color="tab:red", ls="--", lw=1.0)
            top = max(top, lim.rpm / 60.0)
            label += f"  limit {lim.rpm:g} rpm = {lim.rpm / 60:.1f}/s, burst {lim.burst}, " \
                     f"max_inflight {lim.max_inflight}"
        ref = (ref_limits or {}).get(m)
        if ref is not None:
            ax.axhline(ref.rpm / 60.0, color="grey", ls="--", lw=1.0)
            top = max(top, ref.rpm / 60.0)
            label += f"  (grey: limit of (c), {ref.rpm:g} rpm, burst {ref.burst})"
        if lim is not None and m in (inflight_models or ()):
            axr = ax.twinx()
            mine = [r for r in arrivals if r.get("model") == m]
            xi2, yi2 = inflight_series(mine, t0, t1, max(b / 4, 0.02))
            axr.plot(xi2, yi2, color="tab:orange", lw=0.8, alpha=0.8)
            axr.axhline(lim.max_inflight, color="tab:orange", ls=":", lw=1.0)
            axr.set_ylim(0, max(lim.max_inflight, float(yi2.max()) if yi2.size else 1) * 1.3)
            axr.tick_params(labelsize=7.5, colors="tab:orange")
            label += " (orange: in flight)"
        ax.set_ylim(0, top * 1.25 + 1e-9)
        ax.set_title(label, fontsize=8.5, loc="left")
        ax.tick_params(labelsize=7.5)
        for s0, s1, c in spans or []:
            ax.axvspan(s0 - t0, s1 - t0, color=c, alpha=0.12, lw=0)
        if k % 2 == 0:
            ax.set_ylabel("calls/s", fontsize=8)
        if k >= 8:
            ax.set_xlabel("seconds since start", fontsize=8)
    fig.savefig(path)  # no bbox_inches="tight": it draws the figure twice
    plt.close(fig)


def plot_boundaries(path, title: str, x: np.ndarray, y: np.ndarray, boundary: np.ndarray,
                    steady_mean: float, bucket: float, rel=None, profiles=None,
                    drain: float = 0.0) -> None:
    """Top: calls per bucket, boundary buckets in red. Bottom: the boundary-aligned average
    rate (calls and answers; +- one standard error) relative to the run's mean rate."""
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(13, 7.5), dpi=90,
                                  gridspec_kw={"height_ratios": [1, 1], "hspace": 0.45})
    ax.bar(x, y, width=bucket, align="edge", color=np.where(boundary, "tab:red", "tab:blue"),
           alpha=0.75)
    ax.axhline(steady_mean, color="k", ls="--", lw=0.9,
               label=f"mean outside boundary windows {steady_mean:.1f}/s")
    ax.axhline(steady_mean * 0.95, color="k", ls=":", lw=0.9, label="-5%")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("calls/s")
    ax.set_title(title + f"\n(top: calls arriving at the backend per {bucket:g} s; red: from an "
                 "invocation stopping its claims until its successor is up + 0.5 s)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    for label, colour in (("calls", "tab:blue"), ("answers", "tab:green")):
        if profiles and label in profiles:
            mean, se, ref = profiles[label]
            r = mean / ref
            ax2.step(rel, r, where="post", color=colour, label=f"{label} (mean {ref:.0f}/s = 1)")
            ax2.fill_between(rel, (mean - se) / ref, (mean + se) / ref, step="post",
                             color=colour, alpha=0.15)
    ax2.axhline(1.0, color="k", lw=0.8)
    ax2.axhline(0.95, color="k", ls=":", lw=0.9)
    ax2.axvline(0, color="tab:red", lw=0.9)
    if drain:
        ax2.axvspan(0, drain, color="tab:red", alpha=0.08, lw=0)
    ax2.set_ylim(0, max(1.5, float(ax2.get_ylim()[1])))
    ax2.set_xlabel("seconds from an invocation stopping its claims (shaded: --drain-timeout)")
    ax2.set_ylabel("rate / mean rate")
    ax2.set_title("average over all boundaries (± one standard error)", fontsize=9.5)
    ax2.legend(fontsize=8, loc="lower right")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
