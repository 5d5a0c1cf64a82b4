#!/usr/bin/env bash
# ./dev lint: ruff (lint and format check), mypy, and the VS Code client's tsc + eslint.
# Arguments are paths for ruff and mypy (default: the whole repository). Runs every check and
# exits non-zero if any failed, so one run shows all findings.
set -uo pipefail
: "${VENV:?VENV must be set (run through ./dev lint)}" "${ROOT:?ROOT must be set}"
cd "$ROOT"
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(server sandbox tools tests bench)
mypy_paths=()
for p in "${paths[@]}"; do
  case "$p" in
    server) mypy_paths+=(server/veladev) ;;
    sandbox) mypy_paths+=(sandbox/velasandbox) ;;
    *) mypy_paths+=("$p") ;;
  esac
done
failed=()
echo "[lint] ruff check ${paths[*]}"
"$VENV/bin/ruff" check "${paths[@]}" || failed+=("ruff check")
echo "[lint] ruff format --check ${paths[*]}"
"$VENV/bin/ruff" format --check "${paths[@]}" >/dev/null || failed+=("ruff format")
echo "[lint] mypy ${mypy_paths[*]}"
"$VENV/bin/python" -m mypy "${mypy_paths[@]}" || failed+=("mypy")
ext="$ROOT/editor-clients/vscode"
if [ $# -eq 0 ]; then
  if [ -d "$ext/node_modules" ]; then
    echo "[lint] editor-clients/vscode: tsc --noEmit and eslint"
    npm --prefix "$ext" run --silent lint || failed+=("vscode lint")
  else
    echo "[lint] editor-clients/vscode: node_modules missing (./dev setup installs them); not linted" >&2
    failed+=("vscode lint (not installed)")
  fi
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "[lint] failed: ${failed[*]}" >&2
  exit 1
fi
echo "[lint] all clean"
