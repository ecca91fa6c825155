"""Plots of x-y trajectories (skills, plans, goals), learning curves (one run, or mean
± std over seeds) and per-skill returns, written as PNG (or SVG) files."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # Headless: never needs a display.
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position
from matplotlib import patches, ticker  # noqa: E402  pylint: disable=wrong-import-position
import numpy as np  # noqa: E402  pylint: disable=wrong-import-position

from lib.atomic import atomic_write_with  # noqa: E402  pylint: disable=wrong-import-position


# Axis labels of the scalars the trainer logs (`export_curves`, `plot_runs`); other tags
# are labelled with their own name. Rewards and log-likelihoods are per transition.
SCALAR_LABELS = {
    "intrinsic_reward": "intrinsic reward (per step)",
    "dads/logp": "log q(s'|s,z) (per step)",
    "dads/logp_altz": "log q(s'|s,z) of other skills",
    "dynamics_loss": "skill-dynamics loss",
    "diayn/logq": "log q(z|s') (per step)",
    "discriminator_loss": "discriminator loss",
    "episode_return": "episode return (env reward)",
    "episode_size": "episode length (steps)",
    "entropy": "policy entropy (nats)",
    "alpha": "SAC temperature alpha",
    "alpha_loss": "temperature loss",
    "actor_loss": "actor loss",
    "critic_loss": "critic loss (TD error squared)",
    "perf/env_steps_per_sec": "env steps / s",
    "perf/updates_per_sec": "updates / s",
    "perf/epoch_seconds": "seconds per epoch",
    "headings/largest_gap_deg": "largest heading gap (degrees)",
    "headings/empty_bins": "empty heading bins",
}
# What a panel of returns that are all exactly 0 says instead of a flat line's silence.
NO_REWARD = "no environment reward: every return is 0"
# Legends with more entries than this go beside the axes, not over the data.
_LEGEND_INSIDE = 6


# Tags of the environment's own reward: in a reward-free environment they are all 0.
RETURN_TAGS = ("episode_return",)


def scalar_label(tag: str) -> str:
  return SCALAR_LABELS.get(tag, tag)


def no_reward_notes(values: dict[str, np.ndarray]) -> dict[str, str]:
  """{tag: NO_REWARD} for the return tags among values {tag: every logged value} that
  are all 0: the `notes` of plot_curves / plot_bands."""
  return {tag: NO_REWARD for tag in RETURN_TAGS if tag in values and all_zero(values[tag])}


def all_zero(values) -> bool:
  """True for a non-empty array whose every value is exactly 0 (a reward-free env's
  returns), which a plot should name rather than draw as data."""
  values = np.asarray(values, np.float64)
  return values.size > 0 and not np.any(values)


def _note(ax, text: str) -> None:
  ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=8,
          color="0.3", wrap=True, bbox=dict(facecolor="white", edgecolor="0.7", alpha=0.9))


def _legend(ax, handles, labels, title: str | None = None) -> None:
  """Inside the axes where it fits (few entries), else beside them on the right."""
  if len(handles) <= _LEGEND_INSIDE:
    ax.legend(handles, labels, fontsize=7, loc="best", title=title, title_fontsize=7)
  else:
    ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0),
              borderaxespad=0.0, title=title, title_fontsize=7)


def _colors(n: int) -> np.ndarray:
  """n distinct colours [n, 4]: tab10 up to 10, tab20 up to 20, then a hue wheel."""
  if n <= 10:
    return plt.cm.tab10(np.arange(max(n, 1)))
  if n <= 20:
    return plt.cm.tab20(np.arange(n))
  return plt.cm.hsv(np.linspace(0, 1, n, endpoint=False))


def _style_handles(predicted: bool) -> tuple[list, list[str]]:
  """Legend entries for what line styles and markers mean (drawn in grey); solid is
  named only beside dashed predictions."""
  handles, labels = [], []
  if predicted:
    handles += [plt.Line2D([], [], color="0.3", lw=1.5),
                plt.Line2D([], [], color="0.3", lw=1.0, ls="--")]
    labels += ["actual path (solid)", "skill-dynamics prediction (dashed)"]
  handles += [plt.Line2D([], [], ls="", marker="o", markerfacecolor="none",
                         markeredgecolor="0.3", markersize=6),
              plt.Line2D([], [], ls="", marker="o", color="0.3", markersize=4)]
  labels += ["start", "end"]
  return handles, labels


def _draw_path(ax, traj: np.ndarray, color, label: str | None = None) -> None:
  """A path [T, 2]: a solid line from a hollow circle (start) to a dot (end)."""
  ax.plot(traj[:, 0], traj[:, 1], color=color, lw=1.5, label=label)
  ax.scatter(traj[:1, 0], traj[:1, 1], facecolors="none", edgecolors=[color], s=40, zorder=4)
  ax.scatter(traj[-1:, 0], traj[-1:, 1], color=[color], s=20, zorder=4)


def plot_trajectories(path: str, trajectories: Sequence[np.ndarray], *,
                      labels: Sequence[str] | None = None,
                      predicted: Sequence[np.ndarray] | None = None, title: str = "",
                      limits: float | None = None, axes: tuple[str, str] = ("x", "y"),
                      planar: bool = True) -> str:
  """Draws trajectories [T, 2] (solid, from a hollow circle at the start to a dot at the
  end) and optional predictions [T', 2] (dashed, same colour); `axes` names the two
  plotted coordinates with their units; returns path. The legend names each trajectory
  (labels) and what solid, dashed and the markers mean; beyond a few entries it sits
  beside the axes. planar: the coordinates are a position in the plane (equal scales);
  otherwise each axis is scaled to its own data (e.g. a position against a velocity).
  The file is written then renamed, never half-made."""
  fig, ax = plt.subplots(figsize=(6, 6))
  colors = _colors(len(trajectories))
  drawn_prediction = False
  for i, traj in enumerate(trajectories):
    _draw_path(ax, np.asarray(traj), colors[i], labels[i] if labels is not None else None)
    if predicted is not None and predicted[i] is not None:
      pred = np.asarray(predicted[i])
      ax.plot(pred[:, 0], pred[:, 1], color=colors[i], lw=1.0, ls="--", alpha=0.8)
      drawn_prediction = True
  if planar:
    ax.set_aspect("equal", adjustable="datalim")
  if limits is not None:
    ax.set_xlim(-limits, limits)
    ax.set_ylim(-limits, limits)
  ax.grid(alpha=0.3)
  ax.set_xlabel(axes[0])
  ax.set_ylabel(axes[1])
  if title:
    ax.set_title(title)
  handles, names = [], []
  if labels is not None and len(trajectories) <= 20:
    handles, names = ax.get_legend_handles_labels()
  style, style_names = _style_handles(drawn_prediction)
  _legend(ax, handles + style, names + style_names)
  return _save(fig, path, dpi=100, bbox_inches="tight")


def plot_goal_paths(path: str, paths: Sequence[np.ndarray], goals: np.ndarray, *,
                    radius: float, scores: Sequence[float], steps: Sequence[int],
                    policy: str, title: str = "", unit: str = "m") -> str:
  """Goal reaching: paths[i] [T_i, 2], driven toward goals[i] [2] by `policy` (e.g. "MPC
  over skills", "random skills"), each in its own colour with its goal: a numbered star
  of that colour inside a dotted circle of the 'reached' `radius`. The legend gives each
  goal's score (scores[i], the normalized reward) and steps, and what the markers mean;
  positions and `radius` are in `unit`. Written then renamed; returns path."""
  goals = np.asarray(goals, np.float64).reshape(-1, 2)
  fig, ax = plt.subplots(figsize=(6.5, 6))
  colors = _colors(len(paths))
  for i, (traj, goal) in enumerate(zip(paths, goals)):
    _draw_path(ax, np.asarray(traj), colors[i],
               f"{policy} toward goal {i}: score {scores[i]:.2f}, {steps[i]} steps")
    ax.add_patch(plt.Circle(goal, radius, fill=False, ls=":", lw=1.0, color=colors[i]))
    ax.scatter([goal[0]], [goal[1]], marker="*", s=260, color=[colors[i]], edgecolor="k",
               linewidth=0.6, zorder=5)
    ax.annotate(str(i), goal, xytext=(7, 7), textcoords="offset points", fontsize=9,
                fontweight="bold", color=colors[i])
  ax.set_aspect("equal", adjustable="datalim")
  ax.grid(alpha=0.3)
  ax.set_xlabel(f"x ({unit})")
  ax.set_ylabel(f"y ({unit})")
  if title:
    ax.set_title(title)
  handles, names = ax.get_legend_handles_labels()
  style, style_names = _style_handles(False)
  handles += [*style, plt.Line2D([], [], ls="", marker="*", markersize=12,
                                     markerfacecolor="0.6", markeredgecolor="k"),
              plt.Line2D([], [], ls=":", color="0.3")]
  names += [*style_names, "goal i (star, numbered)",
            f"'reached' radius: {radius:g} {unit}"]
  ax.legend(handles, names, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0, title_fontsize=7,
            title="score (normalized reward) = -(mean distance to the goal)\n"
                  "/ (the goal's distance from the origin): 0 is best,\n"
                  "-1 is staying at the origin")
  return _save(fig, path, dpi=100, bbox_inches="tight")


def plot_curves(path: str, curves: dict[str, np.ndarray], title: str = "",
                notes: dict[str, str] | None = None) -> str:
  """One panel per curve; each curve is [N, 2] (env steps, value), drawn faint as
  logged and solid as a moving average over 5% of its points (the legend says so); the
  y axis is the tag's `scalar_label`. notes[tag]: a sentence written over that panel
  (e.g. NO_REWARD). Written then renamed."""
  notes = notes or {}
  n = max(len(curves), 1)
  cols = min(3, n)
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
  for ax, (name, data) in zip(axes.flat, curves.items()):
    x, y = data[:, 0], data[:, 1]
    ax.plot(x, y, alpha=0.3, lw=0.8, color="tab:blue")
    k = max(1, len(y) // 20)
    if len(y) >= k:
      ax.plot(x[k - 1:], np.convolve(y, np.ones(k) / k, mode="valid"), lw=1.5, color="tab:blue")
    if name in notes:
      _note(ax, notes[name])
    ax.set_title(name, fontsize=9)
    ax.set_ylabel(scalar_label(name), fontsize=8)
    _steps_axis(ax)
  spare = list(axes.flat)[len(curves):]
  for ax in spare:
    ax.axis("off")
  handles = [plt.Line2D([], [], color="tab:blue", alpha=0.3, lw=0.8),
             plt.Line2D([], [], color="tab:blue", lw=1.5)]
  entries = ["every logged value (faint)", "moving average over 5%\nof the points (solid)"]
  if spare:  # in the first empty panel's place
    spare[0].legend(handles, entries, loc="center", fontsize=8, frameon=False)
  else:
    fig.legend(handles, entries, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2,
               fontsize=8, frameon=False)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  return _save(fig, path, dpi=90, bbox_inches="tight")


def _steps_axis(ax, xlabel: str = "env steps") -> None:
  """An env-steps x axis: few ticks, written short ('1.5M', '500k'), never an offset
  or a '1e6' multiplier; the y axis written short too."""
  ax.set_xlabel(xlabel, fontsize=8)
  # Step counts run to millions: full numbers ('1500000') on 5+ ticks overlap in a
  # 4-inch panel, so few ticks, written short.
  ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=4))
  ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: compact_number(v)))
  ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: compact_number(v)))
  ax.grid(alpha=0.3)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
  """Centred moving average [N] -> [N] over `window` points (Spinning Up's smoothing):
  near the ends, and for runs of fewer than `window` points, the average is over the
  points that exist. window <= 1: unchanged."""
  values = np.asarray(values, np.float64)
  if window <= 1 or len(values) == 0:
    return values
  kernel = np.ones(int(window))
  # The centred N points of the full convolution: np.convolve's "same" for N >= window,
  # and still N points (not `window`) for a run shorter than the window.
  first = (len(kernel) - 1) // 2

  def centred(x):
    return np.convolve(x, kernel, "full")[first:first + len(values)]

  return centred(values) / centred(np.ones_like(values))


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
               xlabel: str = "env steps", notes: dict[str, str] | None = None,
               markers: str = "") -> str:
  """One panel per tag (its title; the y axis its `scalar_label`), each group's mean as a
  line and ± 1 std as a shaded band in the group's colour (the same colour in every
  panel). The legend, below the panels and inside the figure, names the groups and says
  what line and band are. notes[tag]: a sentence written over that panel (e.g.
  NO_REWARD). markers: when given, each measured point is a dot, and the legend says what
  a dot is with this text (e.g. "dot: an evaluated checkpoint"), for curves of few
  points. The format follows path's extension (png, svg). Written then renamed."""
  notes = notes or {}
  n = max(len(panels), 1)
  cols = min(3, n)
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.3 * rows), squeeze=False)
  labels = list(dict.fromkeys(b.label for bands in panels.values() for b in bands))
  colors = {label: _colors(len(labels))[i] for i, label in enumerate(labels)}
  for ax, (tag, bands) in zip(axes.flat, panels.items()):
    for band in bands:
      color = colors[band.label]
      ax.plot(band.steps, band.mean, color=color, lw=1.5, label=band.label,
              marker="o" if markers else None, ms=4)
      ax.fill_between(band.steps, band.mean - band.std, band.mean + band.std, color=color,
                      alpha=0.2, lw=0)
    if tag in notes:
      _note(ax, notes[tag])
    ax.set_title(tag, fontsize=9)
    ax.set_ylabel(scalar_label(tag), fontsize=8)
    _steps_axis(ax, xlabel)
  for ax in list(axes.flat)[len(panels):]:
    ax.axis("off")
  handles = [plt.Line2D([], [], color=colors[label], lw=2) for label in labels]
  handles += [plt.Line2D([], [], color="0.3", lw=1.5),
              patches.Patch(color="0.3", alpha=0.2, lw=0)]
  entries = labels + ["line: mean over the seeds", "band: ± 1 std across the seeds"]
  if markers:
    handles.append(plt.Line2D([], [], color="0.3", lw=0, marker="o", ms=4))
    entries.append(markers)
  # Long group names (several settings) one per row, so the legend never runs off the
  # figure's sides; bbox_inches="tight" below keeps every row inside the saved image.
  ncol = 1 if max(len(e) for e in entries) > 36 else min(len(entries), 2 if cols < 2 else 3)
  fig.legend(handles, entries, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol,
             fontsize=8, frameon=False)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  return _save(fig, path, dpi=100, bbox_inches="tight")


def plot_path_panels(path: str, panels: dict[str, np.ndarray], *, title: str = "",
                     axes: tuple[str, str] = ("x (m)", "y (m)")) -> str:
  """One panel per entry {title: paths [K, T + 1, 2]} (at least one), side by side on
  shared, equal axes around the origin (where the paths start), one colour per path.
  Written then renamed."""
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
  axs[0][0].legend(handles=[plt.Line2D([], [], color="tab:red", lw=0.8),
                            plt.Line2D([], [], ls="", marker="o", color="k", markersize=4)],
                   labels=["one episode (a colour each)", "origin (0, 0)"], fontsize=7,
                   loc="lower left")
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return _save(fig, path, dpi=100)


def plot_skill_returns(path: str, returns: Sequence[np.ndarray], labels: Sequence[str],
                       title: str = "", ylabel: str = "episode return") -> str:
  """The distribution of each skill's episode returns: returns[k] [E_k] drawn as a box
  (median, quartiles, whiskers at 1.5 IQR) with the episodes as dots over it, one box
  per skill labelled labels[k]; the legend says so. Returns that are all 0 (a
  reward-free environment) are named as such (NO_REWARD). Written then renamed."""
  k = max(len(returns), 1)
  fig, ax = plt.subplots(figsize=(min(max(6.0, 2.0 + 0.6 * k), 16.0), 4))
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
  if data and all_zero(np.concatenate(data)):
    _note(ax, NO_REWARD)  # nothing else to explain: every box and dot is at 0
  else:
    ax.legend([plt.Line2D([], [], color="tab:orange", lw=1.5),
               plt.Line2D([], [], ls="", marker="s", markerfacecolor="none",
                          markeredgecolor="k", markersize=8),
               plt.Line2D([], [], ls="", marker="o", color="0.4", markersize=4)],
              ["median", "box: quartiles; whiskers: 1.5 IQR", "one episode (a dot each)"],
              fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
  if title:
    ax.set_title(title, fontsize=10)
  fig.tight_layout()
  return _save(fig, path, dpi=100, bbox_inches="tight")


def plot_polar_histogram(path: str, histograms: dict[str, np.ndarray], *, title: str = "",
                         radial_label: str = "fraction per bin",
                         angle_label: str = "degrees, 0 = +x, counter-clockwise") -> str:
  """Overlaid polar bar charts: histograms {legend entry: values [B]} over B equal bins
  from 0 degrees counter-clockwise (translucent, so overlaps show). The radius is
  `radial_label` (named under the plot); its tick labels run along the emptiest bin,
  off the bars. Written then renamed; returns path."""
  fig = plt.figure(figsize=(5.2, 5.2))
  ax = fig.add_subplot(projection="polar")
  colors = _colors(len(histograms))
  stacked = np.zeros(1)
  for (label, values), color in zip(histograms.items(), colors):
    values = np.asarray(values, np.float64)
    width = 2 * np.pi / len(values)
    ax.bar(np.arange(len(values)) * width + width / 2, values, width=width, bottom=0.0,
           color=color, alpha=0.5, edgecolor="k", linewidth=0.4, label=label)
    stacked = np.maximum(stacked, values)
  top = float(stacked.max())
  ax.set_ylim(0, top * 1.1 if top > 0 else 1.0)
  ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=3))
  # The radial tick labels along the middle of the emptiest bin: nothing under them.
  emptiest = int(np.argmin(stacked)) if stacked.size > 1 else 0
  ax.set_rlabel_position((emptiest + 0.5) * 360.0 / max(stacked.size, 1))
  ax.tick_params(axis="y", labelsize=7)
  ax.tick_params(axis="x", labelsize=8)
  ax.set_xlabel(f"angle: heading ({angle_label})\nradius: {radial_label}", fontsize=8,
                labelpad=10)
  if title:
    ax.set_title(title, fontsize=9, pad=14)
  ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), fontsize=8, frameon=False)
  fig.tight_layout()
  return _save(fig, path, dpi=90, bbox_inches="tight")


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
