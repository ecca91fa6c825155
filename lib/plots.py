"""Plots of x-y trajectories (skills, plans, goals), written as PNG files."""

from __future__ import annotations

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
                      limits: float | None = None, axes: tuple[str, str] = ("x", "y")) -> str:
  """Draws trajectories [T, 2] (solid), optional predictions (dashed, same colour) and
  goals (stars); `axes` names the two plotted coordinates; returns path. The file is
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
  ax.scatter([0], [0], marker="o", color="k", s=30, zorder=4)
  if limits is not None:
    ax.set_xlim(-limits, limits)
    ax.set_ylim(-limits, limits)
  ax.set_aspect("equal", adjustable="datalim")
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
