#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine (as root) or on any
# machine where Python >= 3.11 is present: Debian's headless GL libraries when missing,
# then a virtual environment .venv with the project installed in editable mode.
# Re-running is cheap: the pip step is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if [ -z "${_APT_UPDATED:-}" ]; then apt-get update -qq; _APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "setup: please install the Debian packages: $*" >&2
    return 1
  fi
}

# Python 3.11+ with venv and pip (Debian 12 ships 3.11 without venv).
PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null || ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  apt_install python3 python3-venv python3-pip
fi
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' || {
  echo "setup: Python >= 3.11 is required ($PYTHON is $("$PYTHON" --version))" >&2; exit 1; }

# Headless OpenGL for MuJoCo videos: EGL with Mesa's software rasterizer.
GL_PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libgl1)
missing=()
if command -v dpkg-query >/dev/null; then
  for p in "${GL_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}" || echo "setup: continuing without video rendering" >&2
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Optional extras, comma-separated: EXTRAS=cuda make setup (see README, Install, and docs/performance.md).
EXTRAS=${EXTRAS:-}
extras="test${EXTRAS:+,$EXTRAS}"
stamp=.venv/.installed-$( (cat pyproject.toml; echo "$extras") | sha256sum | cut -c1-16)
if [ ! -e "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
