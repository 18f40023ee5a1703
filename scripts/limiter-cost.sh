#!/usr/bin/env bash
# What the rate limiter costs per list request, in instructions (callgrind counts them
# exactly, so the figure does not move with machine load as req/s does on 2 cores).
# Runs the release server under callgrind with quotas on (never reached) and off, 0 and N
# requests each; per request = (Ir(N) - Ir(0)) / N. Needs a seeded database:
#   JEKCMS_DATABASE_URL=sqlite://bench-out/sqlite/bench.db scripts/limiter-cost.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
: "${JEKCMS_DATABASE_URL:?set JEKCMS_DATABASE_URL to a seeded database (just bench makes one)}"
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
command -v ab >/dev/null || apt-get install -y -qq apache2-utils >/dev/null
cargo build -q --release -p jekcms-server
bin="${CARGO_TARGET_DIR:-$(pwd)/target}/release/jekcms"
work=$(mktemp -d)
creds=$("$bin" keys create --user "limiter-cost-$$@example.com" --json)

measure() { # requests env...
  local requests=$1; shift
  env "$@" JEKCMS_BIND=127.0.0.1:0 JEKCMS_LOG=warn \
    valgrind -q --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" serve > "$work/out" 2>/dev/null &
  local pid=$!
  until grep -q listening "$work/out" 2>/dev/null; do sleep 0.1; done
  local base token
  base=$(sed -n 's|^listening on ||p' "$work/out" | head -1)
  token=$(curl -sf -X POST "$base/api/v2/auth/token" -H 'Content-Type: application/json' \
    -d "$(echo "$creds" | jq -c '{api_key, api_secret}')" | jq -r .data.access_token)
  if [ "$requests" -gt 0 ]; then
    ab -q -n "$requests" -c 4 -H "Authorization: Bearer $token" "$base/api/v2/posts" > "$work/ab.txt"
    if grep -q "Non-2xx" "$work/ab.txt"; then echo "non-2xx answers" >&2; exit 1; fi
  fi
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  grep -E '^(summary|totals):' "$work/cg.out" | head -1 | awk '{print $2}'
}

on=(JEKCMS_RATE_LIMIT_STANDARD=1000000000/s JEKCMS_RATE_LIMIT_ADMIN=1000000000/s JEKCMS_RATE_LIMIT_AUTH=1000000000/s)
off=(JEKCMS_RATE_LIMIT_STANDARD=off JEKCMS_RATE_LIMIT_ADMIN=off JEKCMS_RATE_LIMIT_AUTH=off)
on0=$(measure 0 "${on[@]}"); onn=$(measure "$n" "${on[@]}")
off0=$(measure 0 "${off[@]}"); offn=$(measure "$n" "${off[@]}")
awk -v a="$on0" -v b="$onn" -v c="$off0" -v d="$offn" -v n="$n" 'BEGIN {
  on = (b - a) / n; off = (d - c) / n
  printf "instructions per list request (first page, limit 20): limits on %.0f, off %.0f; on/off = %.4f\n", on, off, on / off }'
rm -rf "$work"
