#!/usr/bin/env bash
# The example frontend (examples/frontend) runs `node server.js` in sandbox pods, and pods see
# the host's tools: install Node.js when it is missing (Debian/Ubuntu, as root); else a no-op.
set -euo pipefail
command -v node >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "velasandbox: please install Node.js (the frontend example runs node server.js)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Not fatal: without node the tests that run the frontend skip, with a one-line reason.
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs; } >/dev/null 2>&1 ||
  echo "velasandbox: could not install Node.js; the frontend example tests will skip" >&2
