#!/usr/bin/env bash
# Proves the layering of docs/ARCHITECTURE.md from the real dependency graph:
# no crate in crates/ depends on actix (the web framework), only jekcms-store on diesel,
# jekcms-client and jekcms-cli on no server-side crate, only jekcms-content and
# jekcms-server on jekcms-cursor, and nothing on OpenSSL.
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
# The API client is for other programs: it reaches no server-side crate of ours.
for forbidden in jekcms-server jekcms-store jekcms-content jekcms-accounts jekcms-auth jekcms-cursor jekcms-ratelimit; do
  if [ -n "$(depends_on jekcms-client "$forbidden")" ]; then
    echo "layering violation: jekcms-client depends on $forbidden"; fail=1
  fi
done
# The CLI is built on the client alone (server crates are dev-dependencies of its tests).
for forbidden in jekcms-server jekcms-store jekcms-content jekcms-accounts jekcms-auth jekcms-cursor jekcms-ratelimit actix-web diesel; do
  if [ -n "$(depends_on jekcms-cli "$forbidden")" ]; then
    echo "layering violation: jekcms-cli depends on $forbidden"; fail=1
  fi
done
# Cursors are opened and sealed by jekcms-content's paging (the server holds the codec);
# every other crate, the store included, sees typed keyset bounds, never a cursor: only
# those two name jekcms-cursor among their own dependencies (others reach it through them).
direct_dependency() { # crate dependency -> prints the line if crate declares dependency itself
  cargo tree -q -p "$1" -e normal,build --depth 1 --prefix none 2>/dev/null | grep -E "^$2 v" || true
}
for dir in crates/*/ apps/*/; do
  crate=$(basename "$dir")
  case "$crate" in jekcms-content | jekcms-server | jekcms-cursor) continue ;; esac
  if [ -n "$(direct_dependency "$crate" jekcms-cursor)" ]; then
    echo "layering violation: $crate depends on jekcms-cursor (only jekcms-content and jekcms-server may)"; fail=1
  fi
done
# TLS is rustls with ring: nothing links OpenSSL.
for dir in crates/*/ apps/*/; do
  crate=$(basename "$dir")
  if [ -n "$(depends_on "$crate" openssl-sys)" ]; then
    echo "layering violation: $crate depends on openssl-sys"; fail=1
  fi
done
# Metrics are the server's: domain crates and the store expose numbers (Store::pool_status)
# that the server reads at scrape time; only jekcms-server depends on the metrics crates.
for dir in crates/*/ apps/*/; do
  crate=$(basename "$dir")
  [ "$crate" = jekcms-server ] && continue
  if [ -n "$(depends_on "$crate" metrics)" ]; then
    echo "layering violation: $crate depends on metrics (only jekcms-server may)"; fail=1
  fi
done
# Media bytes go through jekcms_media_store::MediaStore: only that crate names object_store,
# and TLS stays rustls with ring (no aws-lc, which object_store 0.14+ would bring).
for dir in crates/*/ apps/*/; do
  crate=$(basename "$dir")
  [ "$crate" = jekcms-media-store ] && continue
  if [ -n "$(direct_dependency "$crate" object_store)" ]; then
    echo "layering violation: $crate depends on object_store (only jekcms-media-store may)"; fail=1
  fi
done
for dir in crates/*/ apps/*/; do
  crate=$(basename "$dir")
  if [ -n "$(depends_on "$crate" aws-lc-sys)" ]; then
    echo "layering violation: $crate depends on aws-lc-sys (TLS is rustls with ring)"; fail=1
  fi
done
if [ "$fail" -eq 0 ]; then
  echo "layers ok: no domain crate depends on actix; only jekcms-store depends on diesel;"
  echo "  jekcms-client and jekcms-cli reach no server-side crate; only jekcms-content and"
  echo "  jekcms-server depend on jekcms-cursor; only jekcms-server on metrics; only"
  echo "  jekcms-media-store on object_store; nothing links OpenSSL or aws-lc"
fi
exit "$fail"
