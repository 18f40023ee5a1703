#!/usr/bin/env bash
# Lints openapi/openapi.json with Redocly CLI and the `recommended` ruleset (redocly.yaml;
# the few locations it skips, each with its reason, are in .redocly.lint-ignore.yaml).
# Fails on any error or warning. Redocly CLI is installed from npm into .ci/redocly (ignored
# by git), pinned with its whole tree by scripts/redocly/package-lock.json, and installed
# again only when that lock file changes.
#   scripts/openapi-lint.sh
#   REDOCLY_DIR=/elsewhere scripts/openapi-lint.sh   # another install location
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

version=2.77.0
dir=${REDOCLY_DIR:-$root/.ci/redocly}
lock="$root/scripts/redocly/package-lock.json"

if ! cmp -s "$lock" "$dir/package-lock.json" 2>/dev/null || [ ! -x "$dir/node_modules/.bin/redocly" ]; then
  mkdir -p "$dir"
  cp "$root/scripts/redocly/package.json" "$lock" "$dir/"
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
fi
# No usage data sent anywhere, no update check.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
redocly="$dir/node_modules/.bin/redocly"
[ "$("$redocly" --version 2>/dev/null)" = "$version" ] \
  || { echo "scripts/redocly/package-lock.json does not pin @redocly/cli $version" >&2; exit 1; }

# --max-problems: list every problem, not the first 100. Warnings fail the step too: the
# summary line says "N warnings" and lint exits 0 on warnings alone.
out=$("$redocly" lint openapi/openapi.json --config redocly.yaml --format stylish --max-problems 1000 2>&1) \
  || { echo "$out" | grep -v '[║╔╚]' >&2; exit 1; }
if echo "$out" | grep -qE '[0-9]+ warnings?'; then
  echo "$out" | grep -v '[║╔╚]' >&2
  echo "openapi-lint: warnings count as failures" >&2
  exit 1
fi
echo "$out" | grep -v '[║╔╚]' | sed '/^$/d'
