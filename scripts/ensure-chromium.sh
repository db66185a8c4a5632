#!/usr/bin/env bash
# The dashboard's browser tests drive a headless Chromium. When none is on
# the PATH (and CHROMIUM names none) and we are root on Debian, installs the
# chromium package; otherwise prints the one command that would.
set -euo pipefail
have() {
  if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then return 0; fi
  for b in chromium chromium-browser google-chrome google-chrome-stable; do
    command -v "$b" >/dev/null 2>&1 && return 0
  done
  return 1
}
if have; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Chromium not found: installing the chromium package (for the dashboard's browser tests)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  have && exit 0
fi
echo "Chromium not found. Install it with: sudo apt-get install -y chromium (or set CHROMIUM to a Chrome binary)" >&2
exit 1
