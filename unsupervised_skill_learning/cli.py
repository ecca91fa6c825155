"""What every command-line entry point shares: how it starts (`run`: --help, the check of
--flagfile paths, quiet third-party logs), the one-line error that stops a run before any
work, and stopping on SIGTERM / SIGHUP with one line."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn

from absl import app, flags

HELP_ARGS = ("-h", "-?", "--help", "-help", "--helpshort", "--helpfull")


def fail(program: str, message: str) -> NoReturn:
  """Prints '<program>: error: <message>' to stderr and exits with status 2."""
  print(f"{program}: error: {message}", file=sys.stderr)
  sys.exit(2)


def check_flagfiles(argv: Sequence[str], program: str) -> None:
  """A --flagfile=PATH in argv[1:] that is not a file fails in one line."""
  for arg in argv[1:]:
    if arg.startswith("--flagfile="):
      path = arg.split("=", 1)[1]
      if not os.path.isfile(path):
        fail(program, f"--flagfile={path}: no such file")


def quiet_third_party_logs() -> None:
  """JAX's TPU probe ("Unable to initialize backend 'tpu'") and PyOpenGL announce
  themselves at INFO level; nothing is wrong. Only these loggers are raised to WARNING:
  which backend JAX chooses (a GPU where there is one) is untouched."""
  for name in ("jax._src.xla_bridge", "OpenGL.acceleratesupport"):
    logging.getLogger(name).setLevel(logging.WARNING)


def help_text(description: str, full: bool = False) -> str:
  """The program's description (its module docstring), then its flags (all flags of
  every module with full=True)."""
  flag_values = flags.FLAGS
  listed = flag_values.get_help() if full else flag_values.main_module_help()
  more = "" if full else "\n\nTry --helpfull to get a list of all flags."
  return f"{description.strip()}\n\nflags:\n{listed}{more}"


def stop_on_signals(program: str) -> None:
  """SIGTERM, and SIGHUP (the terminal was closed), stop the process as Ctrl-C does: one
  line on stderr, then SystemExit(128 + signal), which unwinds like an exception: the
  run's lock is released and unfinished temporaries are removed. The training loop has
  its own handlers while it runs (finish the epoch, save, then stop).

  An exception raised by a signal handler can land in a callback that ignores it (JAX
  runs one at every garbage collection), so until the process has stopped the request is
  repeated every second (SIGALRM), except while the stop is already unwinding."""
  if getattr(signal.getsignal(signal.SIGTERM), "stops_program", None) == program:
    # Installed already (before the heavy imports): a second install would forget a stop
    # under way, and take its SIGALRM repeat for a new signal.
    return
  requested: list[int] = []

  def handler(signum, frame):
    del frame
    if not requested:
      requested.append(128 + signum)
      try:
        print(f"{program}: {signal.Signals(signum).name}: stopping; what was saved before is "
              "kept (rerun the same command to resume)", file=sys.stderr, flush=True)
      except OSError:  # no terminal left to print to (SIGHUP)
        pass
      atexit.register(signal.setitimer, signal.ITIMER_REAL, 0)  # no repeats while exiting
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    if isinstance(sys.exc_info()[1], SystemExit):
      return  # in a `finally` or `__exit__` of the stop itself: let the clean-up finish
    raise SystemExit(requested[0])

  def unraisable(info):
    if not (requested and isinstance(info.exc_value, SystemExit)):
      sys.__unraisablehook__(info)  # a stop that landed in a callback is repeated, not news

  sys.unraisablehook = unraisable
  handler.stops_program = program
  for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
    signal.signal(signum, handler)


def requested_stop(error: BaseException) -> SystemExit | None:
  """The SystemExit of a stop request somewhere in `error`'s chain of causes, if any."""
  seen: set[int] = set()
  while error is not None and id(error) not in seen:
    if isinstance(error, SystemExit):
      return error
    seen.add(id(error))
    error = error.__cause__ or error.__context__
  return None


@contextlib.contextmanager
def stops_survive_imports() -> Iterator[None]:
  """A stop request (stop_on_signals' SystemExit) that lands while a C extension
  initialises (jaxlib, mujoco) reaches Python as that extension's ImportError, with the
  SystemExit as its cause; here it becomes the stop again (its line is already printed,
  its exit status kept) instead of an import traceback."""
  try:
    yield
  except ImportError as error:
    stop = requested_stop(error)
    if stop is None:
      raise
    raise SystemExit(stop.code) from None


def run(main: Callable[[list[str]], None], program: str, description: str, *,
        stop_signals: bool = False) -> None:
  """Starts an entry point: --help (and -h, --helpfull) prints `description` and the
  flags and exits 0 (absl's own exits 1); a missing --flagfile is one line; third-party
  start-up logs are quieted; with stop_signals, SIGTERM / SIGHUP as stop_on_signals.
  Then absl parses the flags and calls main(argv)."""
  if any(arg in HELP_ARGS for arg in sys.argv[1:]):
    print(help_text(description, full="--helpfull" in sys.argv[1:]))
    sys.exit(0)
  check_flagfiles(sys.argv, program)
  if stop_signals:
    stop_on_signals(program)
  quiet_third_party_logs()

  def main_stopping_in_imports(argv: list[str]) -> None:
    with stops_survive_imports():  # main's own lazy imports
      main(argv)

  app.run(main_stopping_in_imports)
