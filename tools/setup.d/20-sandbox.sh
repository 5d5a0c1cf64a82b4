#!/usr/bin/env bash
# velasandbox needs unshare/nsenter (util-linux), git and tar on the host.
# Installs only what is missing (Debian/Ubuntu, as root); a no-op when everything is there.
set -euo pipefail
missing=()
command -v unshare >/dev/null 2>&1 && command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v tar >/dev/null 2>&1 || missing+=(tar)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "velasandbox: please install ${missing[*]} (needed for sandbox pods)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
