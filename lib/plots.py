"""Plots of x-y trajectories (skills, plans, goals), written as PNG files."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # Headless: never needs a display.
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position
import numpy as np  # noqa: E402  pylint: disable=wrong-import-position


def plot_trajectories(path: str, trajectories: Sequence[np.ndarray], *,
                      labels: Sequence[str] | None = None,
                      predicted: Sequence[np.ndarray] | None = None,
                      goals: np.ndarray | None = None, title: str = "",
                      limits: float | None = None) -> str:
  """Draws x-y trajectories [T, 2] (solid), optional predictions (dashed, same colour)
  and goals (stars); returns path. The file is written then renamed, never half-made."""
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
  ax.set_xlabel("x")
  ax.set_ylabel("y")
  if title:
    ax.set_title(title)
  if labels is not None and len(trajectories) <= 12:
    ax.legend(fontsize=7, loc="best")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=100, bbox_inches="tight")
  plt.close(fig)
  os.replace(tmp, path)
  return path


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
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[len(curves):]:
    ax.axis("off")
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=90)
  plt.close(fig)
  os.replace(tmp, path)
  return path
