"""Writing frames to mp4 (h264 through imageio-ffmpeg's bundled ffmpeg)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import imageio.v2 as imageio
import numpy as np

from lib.atomic import atomic_write_with


def write_mp4(path: str, frames: Sequence[np.ndarray], fps: int = 20) -> str:
  """Writes uint8 frames [T, H, W, 3] as an h264 mp4 playable in browsers; returns path.

  Frame sizes are padded to even numbers because yuv420p h264 needs them.
  """
  if len(frames) == 0:
    raise ValueError(f"no frames to write to {path}")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  frames = np.asarray(frames, dtype=np.uint8)
  _, h, w, _ = frames.shape
  pad = ((0, 0), (0, h % 2), (0, w % 2), (0, 0))
  if any(p[1] for p in pad):
    frames = np.pad(frames, pad, mode="edge")
  def write(tmp: str) -> None:
    with warnings.catch_warnings():
      # imageio-ffmpeg starts ffmpeg with fork+exec, which JAX warns about in general; an
      # immediate exec cannot deadlock.
      warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                              category=RuntimeWarning)
      imageio.mimwrite(tmp, list(frames), fps=fps, codec="libx264", macro_block_size=1,
                       pixelformat="yuv420p", output_params=["-loglevel", "error"],
                       format="FFMPEG")

  return atomic_write_with(path, write)


def read_mp4(path: str) -> np.ndarray:
  """Reads an mp4 back as uint8 [T, H, W, 3] (used to check what was written)."""
  return np.asarray(imageio.mimread(path, memtest=False))
