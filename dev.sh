#!/usr/bin/env bash
# One command per quick-start step; each sets up what it needs in ./.venv first.
#   ./dev.sh demo   install commsim and run the flagship scenario (prints its result)
#   ./dev.sh test   install commsim with test extras (and the CPU build of torch), run the lint
#                   (ruff, the format check, mypy, the import contracts), then the tests
#   ./dev.sh lint   the lint alone: ruff, ruff format --check, mypy, lint-imports
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv

setup() {
  local extras=$1
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  local spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  local stamp="$VENV/.commsim-${extras:-base}-$(sha1sum pyproject.toml | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    if [[ "$extras" == *torch* ]] && ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
      # The pinned CPU build; an unpinned torch would pull a multi-GB CUDA build.
      "$VENV/bin/python" -m pip install -q "torch==2.13.0"
    fi
    "$VENV/bin/python" -m pip install -q -e "$spec"
    touch "$stamp"
  fi
  # Bytecode for the package, as a non-editable install writes it: with PYTHONDONTWRITEBYTECODE
  # set (this VM, many containers) every run would otherwise compile ~115 modules again
  # (~0.2 s of the flagship's run). Only sources newer than their .pyc are compiled.
  "$VENV/bin/python" -m compileall -q simulator >/dev/null
}

# Any failure stops the run (set -e): a lint error fails ./dev.sh test before pytest starts.
lint() {
  echo "+ ruff check" >&2
  "$VENV/bin/ruff" check simulator tests benchmarks
  echo "+ ruff format --check" >&2
  "$VENV/bin/ruff" format --check simulator tests benchmarks
  echo "+ mypy" >&2
  "$VENV/bin/mypy"
  echo "+ lint-imports" >&2
  "$VENV/bin/lint-imports" --no-logo --no-cache
}

case "${1:-}" in
  demo)
    setup ""
    exec "$VENV/bin/commsim" run scenarios/gpt3-175b-1024xh100.yaml
    ;;
  test)
    setup "test,dev,sweep,chakra,torch"
    shift
    lint
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  lint)
    setup "test,dev,sweep,chakra,torch"
    lint
    ;;
  *)
    echo "usage: ./dev.sh demo|test|lint [pytest args]" >&2
    exit 2
    ;;
esac
