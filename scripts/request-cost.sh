#!/usr/bin/env bash
# What a list request costs the server against the "bound" (the store's list query), in
# instructions: callgrind counts them exactly, so the ratio does not move with machine load
# as the timed one does on 2 shared cores. Runs the release server under callgrind with 0
# and N requests (first page, limit 20, one kept-alive connection); per request =
# (Ir(N) - Ir(0)) / N.
# The bound, counted the same way: the store's example `list_bound` (N first pages straight
# through `Store::list_posts`, one current-thread runtime like a server worker) under
# callgrind with 0 and N pages, (Ir(N) - Ir(0)) / N. That counts the whole process, which
# PostgreSQL needs: tokio-postgres decodes rows in the connection's own task, outside the
# list function's frames. On SQLite, where the query runs on the calling thread, the script
# also prints the older figure: only inside `posts::read::list_posts` (--toggle-collect).
# (The list request's caller is `extract::ReadCaller`, and the query `posts::read::list_posts`;
# the script says "not found" when a rename leaves a pattern behind.)
# Needs a seeded database (`just bench` makes both; `jekcms seed` makes one):
#   JEKCMS_DATABASE_URL=sqlite://bench-out/sqlite/bench.db scripts/request-cost.sh [N]
#   JEKCMS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/jekcms_bench scripts/request-cost.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
: "${JEKCMS_DATABASE_URL:?set JEKCMS_DATABASE_URL to a seeded database (just bench makes one per store)}"
. scripts/callgrind-requests.sh
quotas=(JEKCMS_RATE_LIMIT_STANDARD=1000000000/s JEKCMS_RATE_LIMIT_ADMIN=1000000000/s JEKCMS_RATE_LIMIT_AUTH=1000000000/s)

# The access log on, as `just bench` runs the server (its timings come from that log).
quotas+=(JEKCMS_LOG=info)
mkdir -p bench-out
idle=$(callgrind_requests 0 1 "${quotas[@]}")
busy=$(CG_KEEP=bench-out/request-cost.callgrind callgrind_requests "$n" 1 "${quotas[@]}")

# The bound, whole process: list_bound with 0 and N pages.
cargo build -q --release -p jekcms-store --example list_bound
bound_bin="${CARGO_TARGET_DIR:-$(pwd)/target}/release/examples/list_bound"
bound_ir() {
  local out
  out=$(mktemp)
  valgrind -q --tool=callgrind --callgrind-out-file="$out" "$bound_bin" "$1" > /dev/null
  grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
  rm -f "$out"
}
bound_idle=$(bound_ir 0)
bound_busy=$(bound_ir "$n")
awk -v a="$idle" -v b="$busy" -v c="$bound_idle" -v d="$bound_busy" -v n="$n" 'BEGIN {
  req = (b - a) / n; bnd = (d - c) / n
  if (bnd <= 0) { print "the bound counted nothing" > "/dev/stderr"; exit 1 }
  printf "instructions per list request (first page, limit 20): %.0f; the store list query alone (the bound, whole process): %.0f; server/bound = %.2f\n", req, bnd, req / bnd }'

case "$JEKCMS_DATABASE_URL" in
  sqlite:*)
    bound=$(callgrind_requests "$n" 1 "${quotas[@]}" -- --collect-atstart=no \
      '--toggle-collect=jekcms_store::posts::read::list_posts*')
    awk -v a="$idle" -v b="$busy" -v q="${bound:-0}" -v n="$n" 'BEGIN {
      req = (b - a) / n; bnd = q / n
      if (bnd == 0) { print "list_posts not found in the profile" > "/dev/stderr"; exit 1 }
      printf "  (inside the server, posts::read::list_posts alone: %.0f; server/that = %.2f)\n", bnd, req / bnd }'
    ;;
esac

# Where the rest goes: inclusive instructions per request of the request's parts (the
# outermost frame matching each pattern), from the profile of the N requests.
echo
echo "per request, inclusive (callgrind_annotate --inclusive=yes bench-out/request-cost.callgrind):"
callgrind_annotate --inclusive=yes --threshold=100 bench-out/request-cost.callgrind 2>/dev/null \
  | awk -v n="$n" -v total="$(awk -v a="$idle" -v b="$busy" -v n="$n" 'BEGIN{printf "%.0f", (b-a)/n}')" '
  BEGIN {
    parts["1 the request task (extractors, handler, JSON, access log)"] = "tokio::task::task_local::TaskLocalFuture<T,F> as core::future::future::Future>::poll"
    parts["2 store: list query (the bound)"] = "jekcms_store::posts::read::list_posts"
    parts["3 JSON of the page (serde_json)"] = "Serialize for jekcms_envelope::Envelope<T>>::serialize"
    parts["4 of which serde_json string escaping"] = "serde_json::ser::format_escaped_str_contents"
    parts["5 caller: token and quota (the session check rides with the read)"] = "jekcms_server::extract::ReadCaller as actix_web::extract::FromRequest>::from_request"
    parts["6 store: session check"] = "SessionStore for jekcms_store::Store>::principal"
    parts["7 access token: PASETO open + claims"] = "jekcms_auth::access::AccessTokens::verify"
    parts["8 access log line"] = "jekcms_server::context::log_access"
    parts["9 HTTP/1 connection (actix dispatcher)"] = "actix_http::h1::dispatcher::Dispatcher<T,S,B,X,U> as core::future::future::Future>::poll"
  }
  /^ *[0-9,]+ / {
    v = $1; gsub(/,/, "", v)
    for (p in parts) if ($0 ~ parts[p] && v + 0 > best[p]) best[p] = v + 0
  }
  END {
    for (p in parts) {
      split(p, k, " "); label = substr(p, length(k[1]) + 2)
      # A part not found (a renamed function) says so rather than printing 0.
      if (best[p] == 0) printf "%s\t%-45s not found in the profile\n", k[1], label
      else printf "%s\t%-45s %9.0f  %5.1f %%\n", k[1], label, best[p] / n, 100 * best[p] / n / total
    }
  }' | sort -n | cut -f2-
