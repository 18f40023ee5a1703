#!/usr/bin/env bash
# Proves the layering of docs/ARCHITECTURE.md from the real dependency graph:
# no crate in crates/ depends on actix (the web framework), and only jekcms-store on diesel.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
depends_on() { # crate dependency -> prints the path if crate (normal/build deps) reaches dependency
  cargo tree -q -p "$1" -e normal,build -i "$2" 2>/dev/null | grep -E "^$2 v" || true
}
for dir in crates/*/; do
  crate=$(basename "$dir")
  for forbidden in actix-web actix-http actix-server; do
    if [ -n "$(depends_on "$crate" "$forbidden")" ]; then
      echo "layering violation: $crate depends on $forbidden"; fail=1
    fi
  done
  if [ "$crate" != "jekcms-store" ] && [ -n "$(depends_on "$crate" diesel)" ]; then
    echo "layering violation: $crate depends on diesel (only jekcms-store may)"; fail=1
  fi
done
if [ "$fail" -eq 0 ]; then
  echo "layers ok: no domain crate depends on actix; only jekcms-store depends on diesel"
fi
exit "$fail"
