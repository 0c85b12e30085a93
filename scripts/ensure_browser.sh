#!/usr/bin/env bash
# The browser test (tests/e2e) drives Debian's Chromium through Playwright (no browser download).
# Installs it when missing and this shell may (root with apt-get); otherwise says what to do.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser test (apt-get install -y chromium)"
  (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; })
  [ -x "$CHROMIUM" ] && exit 0
fi
cat >&2 <<MSG
The browser test needs Chromium at $CHROMIUM and it is missing.
  Debian/Ubuntu: sudo apt-get install -y chromium
  Then run make test again.
MSG
exit 1
