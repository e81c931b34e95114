#!/usr/bin/env bash
# Installs schemathesis (the OpenAPI property-based fuzzer, from PyPI) once into a virtual
# environment cached outside the repo, keyed by its version like the Go tools, and prints the
# path of its `st` command. Safe to run concurrently: the venv is built aside and renamed.
set -euo pipefail
VERSION=4.32.5
CACHE="${AUTOCRANE_CACHE_DIR:-$HOME/.cache/autocrane}"
VENV="$CACHE/schemathesis-$VERSION"
if [ -x "$VENV/bin/st" ] && [ -f "$VENV/.installed" ]; then
  echo "$VENV/bin/st"
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  echo "schemathesis.sh: python3 with venv support is needed (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
mkdir -p "$CACHE"
# A venv records its own path, so it is built where it will live, under a lock.
exec 9>"$VENV.lock"
flock 9
if [ ! -f "$VENV/.installed" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
  touch "$VENV/.installed"
fi
echo "$VENV/bin/st"
