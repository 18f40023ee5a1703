#!/usr/bin/env bash
# `just bench`: criterion micro-benchmarks, then HTTP scenarios against the release server
# on SQLite and PostgreSQL with the seeded dataset (100,000 posts). Writes bench-out/results.md.
#
# Knobs: BENCH_POSTS (100000), BENCH_SECONDS (2 per scenario), BENCH_SKIP_CRITERION=1,
# BENCH_SKIP_BOUND=1, BENCH_STORES ("sqlite postgres"), JEKCMS_TEST_POSTGRES_URL (admin URL
# for a scratch db), BENCH_ONLY=issue5 (only the v1-versus-v2 pages and the bulk import of
# issue #5), BENCH_ONLY=gzip (only the list and get-by-id pages plain, gzipped and through
# Node's fetch, issue #14), BENCH_ONLY=pull (the pull API against the management list, #16),
# BENCH_ONLY=mcp (a list_posts call on /mcp against the REST list at the same page size, #18),
# BENCH_ONLY=events (what recording the activity log costs a create and a bulk import of 100,
# without and with a webhook configured, #17). BENCH_BIN=path: measure that server binary
# instead of building one (e.g. an older commit's, to compare; needs BENCH_SKIP_CRITERION=1
# and BENCH_SKIP_BOUND=1).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/bench-out"
mkdir -p "$out"
posts=${BENCH_POSTS:-100000}
secs=${BENCH_SECONDS:-2}
stores=${BENCH_STORES:-sqlite postgres}
pg_admin=${JEKCMS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
results="$out/results.md"
# Its own scratch database: two checkouts benchmarking at once must not drop each other's.
pg_db="jekcms_bench_$$"
# Seconds since the start at each step, so the report shows where the run's time goes.
t0=$(date +%s)
: > "$out/phases.txt"
phase() { echo "$(( $(date +%s) - t0 )) s: $1" | tee -a "$out/phases.txt" >&2; }

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)"; apt-get install -y -qq wrk >/dev/null 2>&1 || {
    echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
fi
# Everything is built before anything is measured, by one cargo command: the server and the
# criterion benches (micro and the bound) together, so dependency features unify once and
# every shared crate compiles once (built by two commands, the benches' dev-dependencies
# unified differently and ~70 crates compiled a second time: ~2 min of a fresh run). The
# bench executables are then run directly, as `cargo bench` would run them.
command -v jq >/dev/null || apt-get install -y -qq jq >/dev/null
# Node's global fetch (Node 18 and later) drives the scenario most front ends resemble.
command -v node >/dev/null || apt-get install -y -qq nodejs >/dev/null
node -e 'if (typeof fetch !== "function") process.exit(1)' || {
  echo "Node 18 or later is needed (global fetch): $(node --version)" >&2; exit 1; }
# --timings: where a cold build's time went, in target/cargo-timings/cargo-timing.html.
if [ -n "${BENCH_BIN:-}" ]; then
  [ -n "${BENCH_SKIP_CRITERION:-}" ] && [ -n "${BENCH_SKIP_BOUND:-}" ] \
    || { echo "BENCH_BIN needs BENCH_SKIP_CRITERION=1 and BENCH_SKIP_BOUND=1" >&2; exit 1; }
  bench_exes=()
else
cargo build --release --timings --message-format=json-render-diagnostics \
  -p jekcms-server --bins -p jekcms-benches --benches \
  > "$out/build.json"
mapfile -t bench_exes < <(jq -r 'select(.reason == "compiler-artifact" and .target.kind == ["bench"])
  | .executable // empty' "$out/build.json")
[ "${#bench_exes[@]}" -gt 0 ] || { echo "no bench executables were built" >&2; exit 1; }
fi
export CRITERION_HOME="${CARGO_TARGET_DIR:-$root/target}/criterion"
# Runs every criterion executable with the given arguments (a name filter selects the benches).
run_benches() {
  local exe
  for exe in "${bench_exes[@]}"; do "$exe" --bench "$@"; done
}
phase "build done (server, criterion benches, the bound)"
bin="${BENCH_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/jekcms}"

{
  echo "# JekCMS benchmark results"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); commit: $(git rev-parse --short HEAD 2>/dev/null || echo none)"
  echo "- machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -m); $(rustc --version)"
  echo "- dataset: \`jekcms seed --posts $posts\` (deterministic); wrk for ${secs} s per scenario"
  echo
} > "$results"

: > "$out/statuses.txt"

if [ -z "${BENCH_SKIP_CRITERION:-}" ]; then
  echo "== criterion micro-benchmarks"
  # Short runs with 20,000 bootstrap resamples (criterion's default 100,000 made the analysis
  # a third of this step): ~12 s for all of them; the host's own noise is larger than what
  # longer runs would add in precision.
  run_benches --warm-up-time 0.2 --measurement-time 0.6 --nresamples 20000 \
    '^(token|secret|password|cursor|envelope|ratelimit)/' 2>/dev/null \
    | tee "$out/criterion.txt" | grep -E "time:" || true
  {
    echo "## In-process (criterion, median of the estimate)"
    echo
    echo "| benchmark | time |"
    echo "| --- | --- |"
    awk '/^[a-z_\/0-9]+ *$/ {name=$1} /time:/ { if (name=="") name=$1; gsub(/.*time: *\[/, ""); split($0, a, " "); printf "| %s | %s %s |\n", name, a[3], a[4]; name="" }' "$out/criterion.txt"
    echo
  } >> "$results"
  phase "criterion done"
fi

# wrk → "p50 p99 req/s" (latencies in ms)
wrk_run() { # connections url token
  local c=$1 url=$2 token=$3 threads=1
  [ "$c" -gt 1 ] && threads=2
  [ -n "${WRK_THREADS:-}" ] && threads=$WRK_THREADS
  local script=() auth=(-H "Authorization: Bearer $token") extra=()
  [ -n "${WRK_SCRIPT:-}" ] && script=(-s "$WRK_SCRIPT")
  [ -n "${WRK_HEADER:-}" ] && extra=(-H "$WRK_HEADER")
  [ -n "${WRK_HEADER2:-}" ] && extra+=(-H "$WRK_HEADER2")
  # v1 authenticates with the key pair itself (V1_KEY / V1_SECRET), not a bearer token.
  [ -n "${V1_KEY:-}" ] && auth=(-H "X-API-Key: $V1_KEY" -H "X-API-Secret: $V1_SECRET")
  wrk -t"$threads" -c"$c" -d"${secs}s" --latency "${script[@]}" "${auth[@]}" "${extra[@]}" "$url" > "$out/wrk.txt"
  awk -v allow="${WRK_ALLOW_ERRORS:-}" '
    function ms(v) { if (v ~ /us$/) { sub(/us$/, "", v); return v/1000 } if (v ~ /ms$/) { sub(/ms$/, "", v); return v+0 } sub(/s$/, "", v); return v*1000 }
    $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)} /Requests\/sec/ {rps=$2}
    /Non-2xx/ {bad=$NF}
    END { if (bad && !allow) { print "ERROR non-2xx " bad; exit 1 } printf "%.3f %.3f %.0f\n", p50, p99, rps }' "$out/wrk.txt"
}

# Server-side p50 of the requests logged since the log was last emptied (µs).
server_p50() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -o 'micros=[0-9]*' | cut -d= -f2 | sort -n \
    | awk '{a[NR]=$1} END { if (NR==0) {print "n/a"; exit} printf "%.3f\n", a[int((NR+1)/2)]/1000 }'
}

# Starts the release server with extra environment (`VAR=value …`) on a free port (port 0:
# the server picks one and prints it), sets $pid and $base.
start_server() {
  : > "$work/stdout"
  env JEKCMS_BIND=127.0.0.1:0 JEKCMS_LOG=info "$@" "$bin" serve > "$work/stdout" 2>> "$log" &
  pid=$!
  until grep -q listening "$work/stdout" 2>/dev/null; do sleep 0.005; done
  base="http://$(sed -n 's|^listening on http://||p' "$work/stdout" | head -1)"
}

for store in $stores; do
  echo "== $store"
  work="$out/$store"
  rm -rf "$work"; mkdir -p "$work"
  case $store in
    sqlite) url="sqlite://$work/bench.db"; unset JEKCMS_SECRET_KEY ;;
    postgres)
      # PostgreSQL deployments bring their own key; SQLite keeps one beside the database.
      JEKCMS_SECRET_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n'); export JEKCMS_SECRET_KEY
      psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" -c "CREATE DATABASE $pg_db"
      url="${pg_admin%/*}/$pg_db" ;;
  esac
  # Quotas stay on (the limiter runs on every request) but far above what wrk can send.
  export JEKCMS_DATABASE_URL="$url" JEKCMS_MEDIA_DIR="$work/media" \
    JEKCMS_RATE_LIMIT_STANDARD=1000000000/s JEKCMS_RATE_LIMIT_ADMIN=1000000000/s JEKCMS_RATE_LIMIT_AUTH=1000000000/s
  seed_start=$(date +%s.%N)
  "$bin" seed --posts "$posts" 2>&1 | tail -1
  # A second site, so every query also has to skip another tenant's rows.
  "$bin" seed --site second --posts "$((posts / 10))" 2>&1 | tail -1
  seed_secs=$(awk -v a="$(date +%s.%N)" -v b="$seed_start" 'BEGIN{printf "%.1f", a-b}')
  # The load left dirty pages in PostgreSQL's buffers and WAL to flush: write them out now rather
  # than have the checkpointer do it in the middle of a scenario.
  [ "$store" = postgres ] && psql -q "$url" -c CHECKPOINT
  phase "$store: seeded"
  creds=$("$bin" keys create --user bench@example.com --json)
  log="$work/server.log"
  : > "$log"
  # Cold start to `listening` on the existing database: the median of three starts (one
  # start alone catches whatever else the machine is doing, e.g. PostgreSQL's checkpoint
  # after the seeding).
  starts=()
  for _ in 1 2 3; do
    start_ns=$(date +%s%N)
    start_server
    starts+=($(( ($(date +%s%N) - start_ns) / 1000000 )))
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
  cold_ms=$(printf '%s\n' "${starts[@]}" | sort -n | sed -n 2p)
  start_server
  token=$(curl -sf -X POST "$base/api/v2/auth/token" -H 'Content-Type: application/json' \
    -d "$(echo "$creds" | jq -c '{api_key, api_secret}')" | jq -r .data.access_token)

  # Cursors at the scenario depths, found by walking the list (100 rows a page, then 20) over
  # one keep-alive connection: a curl and a jq per page cost more than the page.
  declare -A cursor_at=()
  rss_kb=""
  # (BENCH_ONLY=events reads no deep page: no walk, and any BENCH_POSTS will do.)
  [ "${BENCH_ONLY:-}" = events ] || walk=$(python3 - "$base" "$token" <<'PY'
import http.client, re, sys, urllib.parse
base, token = sys.argv[1], sys.argv[2]
u = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(u.hostname, u.port)
def page(limit, cursor):
    path = f"/api/v2/posts?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    res = conn.getresponse()
    body = res.read()
    if res.status != 200:
        sys.exit(f"cursor walk: HTTP {res.status} at {path}")
    # The cursor is in `meta`, after the 100 posts: no need to parse them all.
    found = re.search(rb'"next_cursor":"([^"]+)"', body[-2000:])
    if not found:
        sys.exit(f"cursor walk: no next_cursor at {path}")
    return found.group(1).decode()
cursor, depth = None, 0
for target in (10000, 50000, 99980):
    while depth + 100 <= target:
        cursor, depth = page(100, cursor), depth + 100
    while depth < target:
        cursor, depth = page(20, cursor), depth + 20
    print(f"cursor_at[{target}]='{cursor}'")
PY
)
  eval "${walk:-}"
  phase "$store: cursors found"
  some_id=$(curl -sf "$base/api/v2/posts?limit=1" -H "Authorization: Bearer $token" | jq -r '.data[0].id')

  {
    echo "## HTTP on $store ($posts posts; seeded in ${seed_secs%.*} s; cold start to listening ${cold_ms} ms)"
    echo
    echo "| scenario | connections | p50 ms | p99 ms | req/s | server-side p50 ms |"
    echo "| --- | --- | --- | --- | --- | --- |"
  } >> "$results"
  scenario() { # name connections path   (WRK_SCRIPT, WRK_HEADER, BENCH_* pass through the environment)
    : > "$log"
    if [ -n "${BENCH_FETCH:-}" ]; then
      read -r p50 p99 rps < <(node "$root/scripts/fetch-bench.mjs" "$base$3" "${BENCH_FETCH_KEY:-$token}" "$2" "$secs")
    else
      read -r p50 p99 rps < <(BENCH_TOKEN=${BENCH_TOKEN:-} wrk_run "$2" "$base$3" "$token")
    fi
    sp50=$(server_p50 "$log")
    echo "| $1 | $2 | $p50 | $p99 | $rps | $sp50 |" | tee -a "$results"
    # Which statuses the server answered (a scenario that silently turned into errors shows).
    echo "$store / $1 / $2 connections:$(grep -o 'status=[0-9]*' "$log" | sort | uniq -c | awk '{printf " %s×%s", $2, $1}')" >> "$out/statuses.txt"
  }
  # Issue #14: the list and get-by-id pages as browsers and Node's fetch ask for them,
  # gzipped (Node's fetch sends `Accept-Encoding: gzip, deflate` on its own).
  gzip="Accept-Encoding: gzip, deflate"
  encoding=$(curl -s -o /dev/null -D - -H "$gzip" "$base/api/v2/posts" -H "Authorization: Bearer $token" \
    | tr -d '\r' | sed -n 's/^content-encoding: //Ip')
  [ "$encoding" = gzip ] || { echo "the list page is not gzipped (Content-Encoding: '$encoding')" >&2; exit 1; }
  gzip_scenarios() { # connections
    WRK_HEADER=$gzip scenario "list, first page, gzip" "$1" "/api/v2/posts"
    WRK_HEADER=$gzip scenario "get by id, gzip" "$1" "/api/v2/posts/$some_id"
    BENCH_FETCH=1 scenario "list, first page, Node fetch (gzip)" "$1" "/api/v2/posts"
  }
  if [ "${BENCH_ONLY:-}" = gzip ]; then
    for c in 1 32; do
      scenario "list, first page (limit 20)" "$c" "/api/v2/posts"
      scenario "get by id" "$c" "/api/v2/posts/$some_id"
      gzip_scenarios "$c"
    done
  fi
  # Issue #16: the pull API (cached pages, revalidations, the first page with the cache off)
  # beside the management list in the same run; the cache's hit rate from /metrics.
  if [ -z "${BENCH_ONLY:-}" ] || [ "${BENCH_ONLY:-}" = pull ]; then
    kill "$pid"; wait "$pid" 2>/dev/null || true
    start_server JEKCMS_METRICS=true
    site_id=$(curl -sf "$base/api/v2/me" -H "Authorization: Bearer $token" | jq -r .data.site.id)
    pk=$(curl -sf -X POST "$base/api/v2/sites/$site_id/rotate-keys" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d '{}' | jq -r .data.new_api_key)
    pull_etag=$(curl -sf -o /dev/null -D - "$base/api/v2/pull/posts" -H "X-API-Key: $pk" \
      | tr -d '\r' | sed -n 's/^etag: //Ip')
    [ -n "$pull_etag" ] || { echo "the pull list has no ETag" >&2; exit 1; }
    some_slug=$(curl -sf "$base/api/v2/pull/posts?limit=1&fields=slug" -H "X-API-Key: $pk" | jq -r '.data[0].slug')
    for c in 1 32; do
      scenario "management list, first page (limit 20)" "$c" "/api/v2/posts"
      WRK_HEADER="X-API-Key: $pk" scenario "pull list, first page (cached)" "$c" "/api/v2/pull/posts"
      WRK_HEADER="X-API-Key: $pk" WRK_HEADER2="If-None-Match: $pull_etag" \
        scenario "pull list, If-None-Match (304)" "$c" "/api/v2/pull/posts"
      WRK_HEADER="X-API-Key: $pk" WRK_HEADER2="$gzip" scenario "pull list, gzip (cached)" "$c" "/api/v2/pull/posts"
      BENCH_FETCH=1 BENCH_FETCH_KEY=$pk scenario "pull list, Node fetch (gzip, cached)" "$c" "/api/v2/pull/posts"
      WRK_HEADER="X-API-Key: $pk" scenario "pull post by slug (cached)" "$c" "/api/v2/pull/posts/$some_slug"
    done
    stats=$(curl -sf "$base/metrics")
    hits=$(echo "$stats" | awk '$1=="jekcms_pull_cache_hits_total"{print $2}')
    misses=$(echo "$stats" | awk '$1=="jekcms_pull_cache_misses_total"{print $2}')
    cache_bytes=$(echo "$stats" | awk '$1=="jekcms_pull_cache_bytes"{print $2}')
    kill "$pid"; wait "$pid" 2>/dev/null || true
    # The first (cold) page: every request built from the database, as after a write.
    start_server JEKCMS_PULL_CACHE_BYTES=0
    for c in 1 32; do
      scenario "management list, first page (limit 20)" "$c" "/api/v2/posts"
      WRK_HEADER="X-API-Key: $pk" scenario "pull list, first page, cache off (cold)" "$c" "/api/v2/pull/posts"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
    # Under a pull lease (JEKCMS_PULL_LEASE_MS): an instance reads a key's site once per
    # lease, and every write waits for the lease before it is answered.
    lease_ms=${BENCH_PULL_LEASE_MS:-1}
    start_server JEKCMS_PULL_LEASE_MS="$lease_ms"
    for c in 1 32; do
      WRK_HEADER="X-API-Key: $pk" scenario "pull list, first page (cached), lease $lease_ms ms" "$c" "/api/v2/pull/posts"
      WRK_HEADER="X-API-Key: $pk" WRK_HEADER2="If-None-Match: $pull_etag" \
        scenario "pull list, If-None-Match (304), lease $lease_ms ms" "$c" "/api/v2/pull/posts"
      WRK_HEADER="X-API-Key: $pk" WRK_HEADER2="$gzip" scenario "pull list, gzip (cached), lease $lease_ms ms" "$c" "/api/v2/pull/posts"
      BENCH_FETCH=1 BENCH_FETCH_KEY=$pk scenario "pull list, Node fetch (gzip, cached), lease $lease_ms ms" "$c" "/api/v2/pull/posts"
    done
    BENCH_TOKEN=$token WRK_SCRIPT="$root/scripts/wrk/create.lua" scenario "create (1.2 KB body), lease $lease_ms ms" 1 "/api/v2/posts"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    start_server
    BENCH_TOKEN=$token WRK_SCRIPT="$root/scripts/wrk/create.lua" scenario "create (1.2 KB body), no lease" 1 "/api/v2/posts"
    echo "" >> "$results"
    echo "Pull cache on $store: $hits hits, $misses misses (hit rate $(awk -v h="$hits" -v m="$misses" 'BEGIN{ if (h+m>0) printf "%.4f", h/(h+m); else print "n/a"}')), ${cache_bytes} bytes held (bound: 64 MiB by default)" | tee -a "$results"
    echo "" >> "$results"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    start_server
    phase "$store: pull scenarios done"
  fi
  # Issue #18: a list_posts tool call on /mcp (an mcp_ token, one JSON-RPC request per POST)
  # against the REST list at the same page size (20), alternated so that both see the same
  # machine; the target is a server-side p50 at most 1.5 times the REST list's.
  if [ "${BENCH_ONLY:-}" = mcp ]; then
    mcp_token=$("$bin" keys create --user bench@example.com --family mcp --json | jq -r .token)
    check=$(curl -sf -X POST "$base/mcp" -H "Authorization: Bearer $mcp_token" -H 'Content-Type: application/json' \
      -H 'Accept: application/json, text/event-stream' \
      -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_posts","arguments":{"limit":20}}}' \
      | jq '.result.structuredContent.items | length')
    [ "$check" = 20 ] || { echo "list_posts on /mcp did not return 20 posts ($check)" >&2; exit 1; }
    mcp_encoding=$(curl -s -o /dev/null -D - -X POST "$base/mcp" -H "Authorization: Bearer $mcp_token" \
      -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "$gzip" \
      -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_posts","arguments":{"limit":20}}}' \
      | tr -d '\r' | sed -n 's/^content-encoding: //Ip')
    [ "$mcp_encoding" = gzip ] || { echo "the MCP answer is not gzipped (Content-Encoding: '$mcp_encoding')" >&2; exit 1; }
    for c in 1 32; do
      for _ in 1 2; do
        scenario "REST list, first page (limit 20)" "$c" "/api/v2/posts"
        token=$mcp_token WRK_SCRIPT="$root/scripts/wrk/mcp.lua" scenario "MCP list_posts (limit 20)" "$c" "/mcp"
      done
      # Both answers as most clients ask for them: gzipped (the SDKs' HTTP clients send
      # `Accept-Encoding: gzip` on their own).
      for _ in 1 2; do
        WRK_HEADER=$gzip scenario "REST list, first page (limit 20), gzip" "$c" "/api/v2/posts"
        token=$mcp_token WRK_HEADER=$gzip WRK_SCRIPT="$root/scripts/wrk/mcp.lua" \
          scenario "MCP list_posts (limit 20), gzip" "$c" "/mcp"
      done
    done
    phase "$store: mcp scenarios done"
  fi
  # Issue #17: what recording a write's events (and, with a webhook, its fan-out row) costs: a
  # create, and bulk imports of 100 posts into a fresh site, without and then with a webhook
  # subscribed to every event (its row inserted by SQL, so this measures the recording alone:
  # a binary without the table skips that half).
  if [ "${BENCH_ONLY:-}" = events ]; then
    sql() { # statement
      case $store in
        # The server holds the database: wait for its write lock instead of failing at once.
        sqlite) sqlite3 -cmd ".timeout 5000" "$work/bench.db" "$1" ;;
        postgres) psql -q -t -A "$url" -c "$1" ;;
      esac
    }
    add_webhook() { # site slug
      local now; now=$(date -u '+%Y-%m-%d %H:%M:%S')
      sql "INSERT INTO webhooks (site_id, url, events, enabled, created_at, updated_at)
           SELECT id, 'https://hooks.example.com/jekcms', '*', TRUE, '$now', '$now' FROM sites WHERE slug = '$1'" 2>/dev/null
    }
    lorem=$(printf 'lorem ipsum dolor sit amet %.0s' $(seq 1 38))
    events_bulk() { # label site
      local creds tok
      creds=$("$bin" keys create --user "events@$2.example.com" --site "$2" --json)
      tok=$(curl -sf -X POST "$base/api/v2/auth/token" -H 'Content-Type: application/json' \
        -d "$(echo "$creds" | jq -c '{api_key, api_secret}')" | jq -r .data.access_token)
      [ "$1" = "1 webhook" ] && { add_webhook "$2" || return 0; }
      mkdir -p "$work/events"
      for b in $(seq 0 29); do
        jq -nc --argjson b "$b" --arg body "$lorem" --arg site "$2" '{posts: [range(0; 100) | {title: "Event post \($site) \($b)-\(.)",
          body: $body, tags: ["import", "batch-\($b % 10)"], status: "published"}]}' > "$work/events/$b.json"
        [ "$b" = 0 ] || echo next
        printf 'url = "%s/api/v2/bulk/posts"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\ndata-binary = "@%s"\noutput = "/dev/null"\n' \
          "$base" "$tok" "$work/events/$b.json"
      done > "$work/events/curl.cfg"
      : > "$log"
      curl -sf -K "$work/events/curl.cfg"
      echo "| bulk import of 100 posts, $1 | 1 | | | | $(server_p50 "$log") |" | tee -a "$results"
    }
    BENCH_TOKEN=$token WRK_SCRIPT="$root/scripts/wrk/create.lua" scenario "create (1.2 KB body), no webhook" 1 "/api/v2/posts"
    events_bulk "no webhook" events-a
    if add_webhook default; then
      BENCH_TOKEN=$token WRK_SCRIPT="$root/scripts/wrk/create.lua" scenario "create (1.2 KB body), 1 webhook" 1 "/api/v2/posts"
      events_bulk "1 webhook" events-b
      echo "(deliveries made by the worker so far: $(sql 'SELECT COUNT(*) FROM webhook_deliveries'); writes waiting for it: $(sql 'SELECT COUNT(*) FROM webhook_fanout'))" | tee -a "$results"
    fi
    phase "$store: events scenarios done"
  fi
  # Issue #5: v1 offset pages, to read against the v2 cursor pages at the same depths below
  # (per_page 20: page 501 starts at row 10,000, page 5000 at row 99,980).
  v1_key=$(echo "$creds" | jq -r .api_key); v1_secret=$(echo "$creds" | jq -r .api_secret)
  if [ "${BENCH_ONLY:-}" != gzip ] && [ "${BENCH_ONLY:-}" != pull ] && [ "${BENCH_ONLY:-}" != events ] \
    && [ "${BENCH_ONLY:-}" != mcp ]; then
    V1_KEY=$v1_key V1_SECRET=$v1_secret scenario "v1 ?page=1 (per_page 20)" 1 "/api/v1/posts?page=1&per_page=20"
    V1_KEY=$v1_key V1_SECRET=$v1_secret scenario "v1 ?page=501 (depth 10,000)" 1 "/api/v1/posts?page=501&per_page=20"
    V1_KEY=$v1_key V1_SECRET=$v1_secret scenario "v1 ?page=5000 (depth 99,980)" 1 "/api/v1/posts?page=5000&per_page=20"
  fi
  if [ "${BENCH_ONLY:-}" = issue5 ]; then
    scenario "list, first page (limit 20)" 1 "/api/v2/posts"
    scenario "list, depth 10,000" 1 "/api/v2/posts?limit=20&cursor=${cursor_at[10000]}"
    scenario "list, depth 99,980" 1 "/api/v2/posts?limit=20&cursor=${cursor_at[99980]}"
  fi
  if [ -z "${BENCH_ONLY:-}" ]; then
    # Every #6 scenario at 1 and at 32 connections.
    key_body=$(echo "$creds" | jq -c '{api_key, api_secret}')
    for c in 1 32; do
      scenario "list, first page (limit 20)" "$c" "/api/v2/posts"
      scenario "list, depth 10,000" "$c" "/api/v2/posts?limit=20&cursor=${cursor_at[10000]}"
      scenario "list, depth 50,000" "$c" "/api/v2/posts?limit=20&cursor=${cursor_at[50000]}"
      scenario "list, depth 99,980" "$c" "/api/v2/posts?limit=20&cursor=${cursor_at[99980]}"
      scenario "get by id" "$c" "/api/v2/posts/$some_id"
      gzip_scenarios "$c"
      BENCH_TOKEN=$token WRK_SCRIPT="$root/scripts/wrk/create.lua" scenario "create (1.2 KB body)" "$c" "/api/v2/posts"
      BENCH_KEY_BODY=$key_body WRK_SCRIPT="$root/scripts/wrk/token.lua" \
        scenario "token exchange" "$c" "/api/v2/auth/token"
      # One refresh chain per connection (a refresh token works once): one wrk thread each.
      BENCH_REFRESH=$(for _ in $(seq "$c"); do
          curl -sf -X POST "$base/api/v2/auth/token" -H 'Content-Type: application/json' -d "$key_body" \
            | jq -r .data.refresh_token
        done | paste -sd,) \
        WRK_THREADS=$c WRK_SCRIPT="$root/scripts/wrk/refresh.lua" scenario "refresh (chained)" "$c" "/api/v2/auth/refresh"
    done
    # Login is Argon2id by design; a wrong password and an unknown email must cost the same.
    curl -sf -X POST "$base/api/v2/users" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d '{"name": "Bench", "email": "login@example.com", "role": "editor", "password": "bench password 123"}' >/dev/null
    BENCH_LOGIN_BODY='{"email": "login@example.com", "password": "bench password 123"}' \
      WRK_SCRIPT="$root/scripts/wrk/login.lua" scenario "login (Argon2id)" 1 "/api/v2/auth/login"
    BENCH_LOGIN_BODY='{"email": "login@example.com", "password": "not the password"}' WRK_ALLOW_ERRORS=1 \
      WRK_SCRIPT="$root/scripts/wrk/login.lua" scenario "login, wrong password (401)" 1 "/api/v2/auth/login"
    BENCH_LOGIN_BODY='{"email": "nobody@example.com", "password": "bench password 123"}' WRK_ALLOW_ERRORS=1 \
      WRK_SCRIPT="$root/scripts/wrk/login.lua" scenario "login, unknown email (401)" 1 "/api/v2/auth/login"
    rss_kb=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
    # Optional (BENCH_LIMITER=1): the list with the limiter off, on after a restart, and with
    # quotas in Redis. Throughput moves ±15 % between runs here, more than the limiter costs;
    # scripts/limiter-cost.sh counts its cost in instructions instead.
    if [ -n "${BENCH_LIMITER:-}" ]; then
      kill "$pid"; wait "$pid" 2>/dev/null || true
      start_server JEKCMS_RATE_LIMIT_STANDARD=off JEKCMS_RATE_LIMIT_ADMIN=off JEKCMS_RATE_LIMIT_AUTH=off
      scenario "list, first page, rate limits OFF" 32 "/api/v2/posts"
      kill "$pid"; wait "$pid" 2>/dev/null || true
      start_server
      scenario "list, first page, rate limits on (after restart)" 32 "/api/v2/posts"
      if redis-cli ping >/dev/null 2>&1; then
        kill "$pid"; wait "$pid" 2>/dev/null || true
        start_server JEKCMS_REDIS_URL=redis://127.0.0.1:6379 JEKCMS_REDIS_PREFIX="jekcms-bench:$$:"
        scenario "list, first page, quotas in Redis" 1 "/api/v2/posts"
        scenario "list, first page, quotas in Redis" 32 "/api/v2/posts"
      fi
    fi
  fi
  phase "$store: wrk scenarios done"
  rss_kb=${rss_kb:-$(awk '/VmHWM/{print $2}' "/proc/$pid/status")}
  # BENCH_ONLY=gzip, pull, events, mcp: no bulk import.
  if [ "${BENCH_ONLY:-}" != gzip ] && [ "${BENCH_ONLY:-}" != pull ] && [ "${BENCH_ONLY:-}" != events ] \
    && [ "${BENCH_ONLY:-}" != mcp ]; then
    # 10,000 posts through 100 bulk calls of 100 (1 KB bodies, 2 tags each) into a fresh
    # site of the same database, one after another on one keep-alive connection.
    import_creds=$("$bin" keys create --user importer@example.com --site import --json)
    import_token=$(curl -sf -X POST "$base/api/v2/auth/token" -H 'Content-Type: application/json' \
      -d "$(echo "$import_creds" | jq -c '{api_key, api_secret}')" | jq -r .data.access_token)
    rm -rf "$work/bulk"; mkdir -p "$work/bulk"
    lorem=$(printf 'lorem ipsum dolor sit amet %.0s' $(seq 1 38))
    for b in $(seq 0 99); do
      jq -nc --argjson b "$b" --arg body "$lorem" '{posts: [range(0; 100) | {title: "Imported post \($b)-\(.)",
        body: $body, tags: ["import", "batch-\($b % 10)"], status: "published"}]}' > "$work/bulk/$b.json"
      [ "$b" = 0 ] || echo next
      printf 'url = "%s/api/v2/bulk/posts"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\ndata-binary = "@%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
        "$base" "$import_token" "$work/bulk/$b.json"
    done > "$work/bulk/curl.cfg"
    # Twice: into the empty site, then the same 10,000 titles again, so that every generated
    # slug is taken and has to be suffixed (-2).
    for round in 1 2; do
      : > "$log"
      bulk_start=$(date +%s%N)
      codes=$(curl -s -K "$work/bulk/curl.cfg" | sort | uniq -c | tr -s ' ')
      bulk_ms=$(( ($(date +%s%N) - bulk_start) / 1000000 ))
      bulk_p50=$(server_p50 "$log")
      imported=$(curl -sf "$base/api/v2/posts?limit=1&include=total" -H "Authorization: Bearer $import_token" | jq .meta.total)
      what="into an empty site"; [ "$round" = 2 ] && what="again, every title (and so every generated slug) already taken"
      {
        echo
        echo "Bulk import on $store, $what: 10,000 posts through 100 calls of 100 in ${bulk_ms} ms"
        echo "(HTTP status counts:$codes; posts in the site afterwards: $imported; server-side p50 per call: ${bulk_p50} ms)"
        echo
      } | tee -a "$results"
      [ "$imported" = $((round * 10000)) ] || { echo "bulk import left $imported posts, not $((round * 10000))" >&2; exit 1; }
    done
    phase "$store: bulk import done"
  fi
  # The bound: the same pages straight through the store, no HTTP.
  if [ -z "${BENCH_SKIP_BOUND:-}" ] && [ -z "${BENCH_ONLY:-}" ]; then
    JEKCMS_BENCH_DATABASE_URL="$url" run_benches --warm-up-time 0.3 --measurement-time 1.5 --nresamples 20000 '^store/' \
      2>/dev/null > "$out/bound-$store.txt" || true
    awk '/^store\// {name=$1} /time:/ { gsub(/.*time: *\[/, ""); split($0, a, " ");
      printf "In-process bound (%s, no HTTP): %s %s\n\n", name, a[3], a[4] }' "$out/bound-$store.txt" | tee -a "$results"
  fi
  phase "$store: bound done"
  case $store in
    sqlite) "$root/scripts/explain.sh" sqlite "$work/bench.db" > "$out/explain-$store.txt" ;;
    postgres) "$root/scripts/explain.sh" postgres "$url" > "$out/explain-$store.txt" ;;
  esac
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "" >> "$results"
  echo "Peak RSS of the server on $store: $((rss_kb / 1024)) MB" | tee -a "$results"
  echo "" >> "$results"
  if [ "$store" = postgres ]; then
    psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)"
  fi
done

phase "done"
{
  echo "## Where the run's time went (seconds since the start)"
  echo
  sed 's/^/- /' "$out/phases.txt"
} >> "$results"
echo
echo "results: $results"
cat "$results"
