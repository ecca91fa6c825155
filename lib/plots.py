"""Plots of x-y trajectories (skills, plans, goals), learning curves (one run, or mean
± std over seeds) and per-skill returns, written as PNG (or SVG) files."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # Headless: never needs a display.
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position
from matplotlib import ticker  # noqa: E402  pylint: disable=wrong-import-position
import numpy as np  # noqa: E402  pylint: disable=wrong-import-position

from lib.atomic import atomic_write_with  # noqa: E402  pylint: disable=wrong-import-position


def plot_trajectories(path: str, trajectories: Sequence[np.ndarray], *,
                      labels: Sequence[str] | None = None,
                      predicted: Sequence[np.ndarray] | None = None,
                      goals: np.ndarray | None = None, title: str = "",
                      limits: float | None = None, axes: tuple[str, str] = ("x", "y"),
                      planar: bool = True) -> str:
  """Draws trajectories [T, 2] (solid), optional predictions (dashed, same colour) and
  goals (stars); `axes` names the two plotted coordinates; returns path. planar: the
  coordinates are a position in the plane (equal scales, the origin marked); otherwise
  each axis is scaled to its own data (e.g. a position against a velocity). The file is
  written then renamed, never half-made."""
  fig, ax = plt.subplots(figsize=(6, 6))
  colors = plt.cm.tab10(np.arange(max(len(trajectories), 1)) % 10)
  for i, traj in enumerate(trajectories):
    traj = np.asarray(traj)
    label = labels[i] if labels is not None else None
    ax.plot(traj[:, 0], traj[:, 1], color=colors[i], lw=1.5, label=label)
    ax.scatter(traj[-1:, 0], traj[-1:, 1], color=colors[i], s=20)
    if predicted is not None and predicted[i] is not None:
      pred = np.asarray(predicted[i])
      ax.plot(pred[:, 0], pred[:, 1], color=colors[i], lw=1.0, ls="--", alpha=0.8)
  if goals is not None and len(goals):
    goals = np.asarray(goals)
    ax.scatter(goals[:, 0], goals[:, 1], marker="*", s=200, color="gold", edgecolor="k",
               zorder=5, label="goals")
  if planar:
    ax.scatter([0], [0], marker="o", color="k", s=30, zorder=4)
    ax.set_aspect("equal", adjustable="datalim")
  if limits is not None:
    ax.set_xlim(-limits, limits)
    ax.set_ylim(-limits, limits)
  ax.grid(alpha=0.3)
  ax.set_xlabel(axes[0])
  ax.set_ylabel(axes[1])
  if title:
    ax.set_title(title)
  if labels is not None and len(trajectories) <= 12:
    ax.legend(fontsize=7, loc="best")
  return _save(fig, path, dpi=100, bbox_inches="tight")


def plot_curves(path: str, curves: dict[str, np.ndarray], title: str = "") -> str:
  """One panel per curve; each curve is [N, 2] (env steps, value), drawn with a moving
  average over 5% of its points. Written then renamed."""
  n = max(len(curves), 1)
  cols = min(3, n)
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
  for ax, (name, data) in zip(axes.flat, curves.items()):
    x, y = data[:, 0], data[:, 1]
    ax.plot(x, y, alpha=0.3, lw=0.8)
    k = max(1, len(y) // 20)
    if len(y) >= k:
      ax.plot(x[k - 1:], np.convolve(y, np.ones(k) / k, mode="valid"), lw=1.5)
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("env steps", fontsize=8)
    # Step counts run to millions: full numbers ('1500000') on 5+ ticks overlap in a
    # 4-inch panel, so few ticks, written short ('1.5M').
    ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=4))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: compact_number(v)))
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[len(curves):]:
    ax.axis("off")
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  return _save(fig, path, dpi=90)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
  """Centred moving average [N] -> [N] over `window` points (Spinning Up's smoothing):
  near the ends the average is over the points that exist. window <= 1: unchanged."""
  values = np.asarray(values, np.float64)
  if window <= 1 or len(values) == 0:
    return values
  kernel = np.ones(int(window))
  return (np.convolve(values, kernel, "same")
          / np.convolve(np.ones_like(values), kernel, "same"))


def mean_std_curve(series: Sequence[tuple[np.ndarray, np.ndarray]]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Aligns runs logged at different steps and averages them.

  series: per run, (steps [N_i], values [N_i]), steps increasing.
  Returns (steps [M]: the union of every run's steps, mean [M], std [M] (population),
  count [M]: the runs covering each step). Each run is linearly interpolated at the
  union's steps within its own first..last step, never extrapolated: past a shorter
  run's end the mean is over the runs that got there.
  """
  steps = np.unique(np.concatenate([np.asarray(s, np.float64) for s, _ in series]))
  grid = np.full((len(series), len(steps)), np.nan)
  for i, (s, v) in enumerate(series):
    s, v = np.asarray(s, np.float64), np.asarray(v, np.float64)
    inside = (steps >= s[0]) & (steps <= s[-1])
    grid[i, inside] = np.interp(steps[inside], s, v)
  count = np.sum(~np.isnan(grid), axis=0)
  with np.errstate(invalid="ignore"):
    mean = np.nansum(grid, axis=0) / np.maximum(count, 1)
    std = np.sqrt(np.nansum((grid - mean) ** 2, axis=0) / np.maximum(count, 1))
  return steps, mean, std, count


@dataclasses.dataclass
class Band:
  """One group's curve: mean ± std over its runs at `steps` [M]."""
  label: str
  steps: np.ndarray  # [M]
  mean: np.ndarray   # [M]
  std: np.ndarray    # [M]


def plot_bands(path: str, panels: dict[str, Sequence[Band]], title: str = "",
               xlabel: str = "env steps") -> str:
  """One panel per tag (its title), each group's mean as a line and ± std as a shaded
  band in the group's colour (the same colour in every panel); the legend names the
  groups. The format follows path's extension (png, svg). Written then renamed."""
  n = max(len(panels), 1)
  cols = min(3, n)
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.3 * rows), squeeze=False)
  labels = list(dict.fromkeys(b.label for bands in panels.values() for b in bands))
  colors = {label: plt.cm.tab10(i % 10) for i, label in enumerate(labels)}
  for ax, (tag, bands) in zip(axes.flat, panels.items()):
    for band in bands:
      color = colors[band.label]
      ax.plot(band.steps, band.mean, color=color, lw=1.5, label=band.label)
      ax.fill_between(band.steps, band.mean - band.std, band.mean + band.std, color=color,
                      alpha=0.2, lw=0)
    ax.set_title(tag, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=4))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: compact_number(v)))
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[len(panels):]:
    ax.axis("off")
  handles = [plt.Line2D([], [], color=colors[label], lw=2) for label in labels]
  fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8,
             frameon=False)
  if title:
    fig.suptitle(title)
  legend_rows = -(-len(labels) // 3)
  fig.tight_layout(rect=(0, min(0.08 * legend_rows / rows, 0.4), 1, 1))
  return _save(fig, path, dpi=100)


def plot_path_panels(path: str, panels: dict[str, np.ndarray], *, title: str = "",
                     axes: tuple[str, str] = ("x", "y")) -> str:
  """One panel per entry {title: paths [K, T + 1, 2]} (at least one), side by side on
  shared, equal axes around the origin. Written then renamed."""
  fig, axs = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 4.3), sharex=True,
                          sharey=True, squeeze=False)
  every = np.concatenate([np.asarray(p).reshape(-1, 2) for p in panels.values()])
  reach = float(np.abs(every).max()) * 1.05
  for ax, (name, paths) in zip(axs[0], panels.items()):
    colors = plt.cm.hsv(np.linspace(0, 1, max(len(paths), 1), endpoint=False))
    for color, p in zip(colors, np.asarray(paths)):
      ax.plot(p[:, 0], p[:, 1], color=color, lw=0.8, alpha=0.8)
    ax.scatter([0], [0], marker="o", color="k", s=15, zorder=4)
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.set_title(name, fontsize=9)
    ax.set_xlabel(axes[0])
  axs[0][0].set_ylabel(axes[1])
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return _save(fig, path, dpi=100)


def plot_skill_returns(path: str, returns: Sequence[np.ndarray], labels: Sequence[str],
                       title: str = "", ylabel: str = "episode return") -> str:
  """The distribution of each skill's episode returns: returns[k] [E_k] drawn as a box
  (median, quartiles, whiskers at 1.5 IQR) with the episodes as dots over it, one box
  per skill labelled labels[k]. Written then renamed."""
  k = max(len(returns), 1)
  fig, ax = plt.subplots(figsize=(min(max(5.0, 2.0 + 0.6 * k), 16.0), 4))
  data = [np.asarray(r, np.float64) for r in returns]
  ax.boxplot(data, widths=0.6, showfliers=False)
  jitter = np.random.default_rng(0)
  for i, r in enumerate(data):
    ax.scatter(i + 1 + jitter.uniform(-0.15, 0.15, len(r)), r, s=12, alpha=0.7, zorder=3)
  ax.set_xticks(np.arange(1, len(data) + 1))
  ax.set_xticklabels(labels, rotation=45 if k > 6 else 0, ha="right" if k > 6 else "center",
                     fontsize=7)
  ax.set_xlabel("skill")
  ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3, axis="y")
  if title:
    ax.set_title(title, fontsize=10)
  fig.tight_layout()
  return _save(fig, path, dpi=100)


def compact_number(value: float) -> str:
  """A tick label: 1500000 -> '1.5M', 500000 -> '500k', 2000 -> '2k', 40 -> '40'."""
  for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
    if abs(value) >= scale:
      return f"{value / scale:.3g}{suffix}"
  return f"{value:.3g}"


def _save(fig, path: str, **savefig_kwargs) -> str:
  """Writes the figure atomically (its format from path's extension) and closes it."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  try:
    atomic_write_with(path, lambda tmp: fig.savefig(
        tmp, format=os.path.splitext(path)[1][1:] or "png", **savefig_kwargs))
  finally:
    plt.close(fig)
  return path
