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
. scripts/callgrind-requests.sh

on=(JEKCMS_RATE_LIMIT_STANDARD=1000000000/s JEKCMS_RATE_LIMIT_ADMIN=1000000000/s JEKCMS_RATE_LIMIT_AUTH=1000000000/s)
off=(JEKCMS_RATE_LIMIT_STANDARD=off JEKCMS_RATE_LIMIT_ADMIN=off JEKCMS_RATE_LIMIT_AUTH=off)
on0=$(callgrind_requests 0 4 "${on[@]}"); onn=$(callgrind_requests "$n" 4 "${on[@]}")
off0=$(callgrind_requests 0 4 "${off[@]}"); offn=$(callgrind_requests "$n" 4 "${off[@]}")
awk -v a="$on0" -v b="$onn" -v c="$off0" -v d="$offn" -v n="$n" 'BEGIN {
  on = (b - a) / n; off = (d - c) / n
  printf "instructions per list request (first page, limit 20): limits on %.0f, off %.0f; on/off = %.4f\n", on, off, on / off }'
