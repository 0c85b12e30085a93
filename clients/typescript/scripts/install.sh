#!/usr/bin/env bash
# Installs the client's npm packages exactly as package-lock.json pins them (npm ci, from the npm
# registry), once: a stamp holding the lock file's hash skips the network while node_modules matches.
# Concurrent callers (the system tier's pytest workers) wait for the first one.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1 \
  || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  cat >&2 <<MSG
The TypeScript client (clients/typescript) needs Node.js 20 or newer with npm, and they are missing.
  Debian/Ubuntu: sudo apt-get install -y nodejs npm   (or https://nodejs.org, or nvm install 20)
  Then run make test again.
MSG
  exit 1
fi
exec 9>.npm-install.lock
flock 9
wanted="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.lock-sha256 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
echo "installing the TypeScript client's packages (npm ci in clients/typescript)"
npm ci --no-audit --no-fund --loglevel=error
echo "$wanted" > node_modules/.lock-sha256
