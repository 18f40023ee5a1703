#!/usr/bin/env bash
# What a list request costs the server against the "bound" (the store's list query), in
# instructions: callgrind counts them exactly, so the ratio does not move with machine load
# as the timed one does on 2 shared cores. Runs the release server under callgrind with 0
# and N requests (first page, limit 20, one connection); per request = (Ir(N) - Ir(0)) / N.
# The bound: N requests again, counting only inside the store's `PostRepository::list_posts`
# (callgrind --toggle-collect; SQLite runs the query on the calling thread, inside it), / N.
# Needs a seeded SQLite database:
#   JEKCMS_DATABASE_URL=sqlite://bench-out/sqlite/bench.db scripts/request-cost.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
: "${JEKCMS_DATABASE_URL:?set JEKCMS_DATABASE_URL to a seeded SQLite database (just bench makes one)}"
. scripts/callgrind-requests.sh
quotas=(JEKCMS_RATE_LIMIT_STANDARD=1000000000/s JEKCMS_RATE_LIMIT_ADMIN=1000000000/s JEKCMS_RATE_LIMIT_AUTH=1000000000/s)

idle=$(callgrind_requests 0 1 "${quotas[@]}")
busy=$(callgrind_requests "$n" 1 "${quotas[@]}")
bound=$(callgrind_requests "$n" 1 "${quotas[@]}" -- --collect-atstart=no \
  '--toggle-collect=jekcms_store::posts::<impl jekcms_content::repo::PostRepository for jekcms_store::Store>::list_posts::*')
awk -v a="$idle" -v b="$busy" -v q="${bound:-0}" -v n="$n" 'BEGIN {
  req = (b - a) / n; bnd = q / n
  if (bnd == 0) { print "list_posts not found in the profile" > "/dev/stderr"; exit 1 }
  printf "instructions per list request (first page, limit 20): %.0f; of which the store list query (the bound): %.0f; server/bound = %.2f\n", req, bnd, req / bnd }'
