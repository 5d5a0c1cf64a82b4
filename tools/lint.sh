#!/usr/bin/env bash
# ./dev lint: ruff (lint and format check), mypy, and the VS Code client's tsc + eslint.
# Arguments are paths for ruff and mypy (default: the whole repository). Runs every check and
# exits non-zero if any failed, so one run shows all findings.
# VELADEV_LINT_CHECKS picks a subset of "ruff format mypy vscode" (default: all);
# VELADEV_RUFF_IGNORE is passed to `ruff check --ignore` (for a local run; CI ignores nothing).
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
checks=" ${VELADEV_LINT_CHECKS:-ruff format mypy vscode} "
ruff_ignore=()
[ -z "${VELADEV_RUFF_IGNORE:-}" ] || ruff_ignore=(--ignore "$VELADEV_RUFF_IGNORE")
failed=()
if [[ "$checks" == *" ruff "* ]]; then
  echo "[lint] ruff check ${ruff_ignore[*]} ${paths[*]}"
  "$VENV/bin/ruff" check "${ruff_ignore[@]}" "${paths[@]}" || failed+=("ruff check")
fi
if [[ "$checks" == *" format "* ]]; then
  echo "[lint] ruff format --check ${paths[*]}"
  "$VENV/bin/ruff" format --check "${paths[@]}" >/dev/null || failed+=("ruff format")
fi
if [[ "$checks" == *" mypy "* ]]; then
  echo "[lint] mypy ${mypy_paths[*]}"
  "$VENV/bin/python" -m mypy "${mypy_paths[@]}" || failed+=("mypy")
fi
ext="$ROOT/editor-clients/vscode"
if [ $# -eq 0 ] && [[ "$checks" == *" vscode "* ]]; then
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
