#!/usr/bin/env bash
# What a `list_posts` call on /mcp costs the server against the REST list at the same page
# size (issue #18), in instructions: callgrind counts them exactly, where the timed ratio on 2
# shared cores moves by tens of percent between runs. The release server under callgrind, 0
# and N requests each (one kept-alive connection); per request = (Ir(N) - Ir(0)) / N; plain
# and gzipped (as the SDKs' HTTP clients ask).
# Needs a seeded database (`just bench` makes both; `jekcms seed` makes one):
#   JEKCMS_DATABASE_URL=sqlite://bench-out/sqlite/bench.db scripts/mcp-cost.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
: "${JEKCMS_DATABASE_URL:?set JEKCMS_DATABASE_URL to a seeded database}"
. scripts/callgrind-requests.sh
quotas=(JEKCMS_RATE_LIMIT_STANDARD=1000000000/s JEKCMS_RATE_LIMIT_ADMIN=1000000000/s
  JEKCMS_RATE_LIMIT_AUTH=1000000000/s JEKCMS_LOG=info)
idle=$(callgrind_requests 0 1 "${quotas[@]}")
per_request() { awk -v a="$idle" -v b="$1" -v n="$n" 'BEGIN { printf "%.0f", (b - a) / n }'; }
for gzip in 0 1; do
  rest=$(per_request "$(CG_GZIP=$gzip callgrind_requests "$n" 1 "${quotas[@]}")")
  mcp=$(per_request "$(CG_GZIP=$gzip CG_MCP=1 callgrind_requests "$n" 1 "${quotas[@]}")")
  label=plain; [ "$gzip" = 1 ] && label=gzip
  awk -v r="$rest" -v m="$mcp" -v l="$label" 'BEGIN {
    printf "%-5s REST list %9d   MCP list_posts %9d   MCP/REST = %.2f\n", l, r, m, m / r }'
done
