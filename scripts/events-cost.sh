#!/usr/bin/env bash
# What recording a write's events costs a create and a bulk import of 100 (issue #17), in
# instructions, on SQLite, where the recording runs in the server's process: callgrind counts
# them exactly, where timed runs of the same binary on 2 shared cores differ by more than the
# 10 % to be shown. The release server runs under callgrind on a fresh database (2,000 posts,
# the delivery worker off, so that only the recording is counted), one kept-alive connection
# sends N creates (1.2 KB bodies, distinct titles) or N/10 bulk calls of 100, and the
# recording's inclusive instructions (`activity::NewEventRows::of` builds a write's event
# rows; `::record` inserts them, checks for an enabled webhook and inserts the fan-out row)
# are set against the whole request's. Without and with an enabled webhook.
#   scripts/events-cost.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
command -v sqlite3 >/dev/null || apt-get install -y -qq sqlite3 >/dev/null
work=$(mktemp -d)
export JEKCMS_DATABASE_URL="sqlite://$work/events.db"
# The release build, cg_serve and cg_stop (and its own cleanup of $cg_work).
. scripts/callgrind-requests.sh
trap 'rm -rf "$work" "$cg_work" "${cg_mcp_body:-}"' EXIT
"$bin" seed --posts 2000 > /dev/null

# One round: the server under callgrind, KIND (create|bulk) requests or none, WEBHOOK (0|1);
# prints "instructions recording-instructions requests".
round() {
  local kind=$1 webhook=$2 count=$3
  cg_serve JEKCMS_LOG=info JEKCMS_WEBHOOK_CONCURRENCY=0 JEKCMS_WEBHOOK_ALLOW_HTTP=1 \
    JEKCMS_RATE_LIMIT_STANDARD=1000000000/s JEKCMS_RATE_LIMIT_ADMIN=1000000000/s
  local pid=$cg_pid base=$cg_base token=$cg_token
  sqlite3 -cmd ".timeout 5000" "$work/events.db" "DELETE FROM webhooks"
  if [ "$webhook" = 1 ]; then
    sqlite3 -cmd ".timeout 5000" "$work/events.db" \
      "INSERT INTO webhooks (site_id, url, events, enabled, created_at, updated_at)
       SELECT id, 'https://hooks.example.com/jekcms', '*', 1, datetime(), datetime() FROM sites WHERE slug = 'default'"
  fi
  client() { # COUNT TAG
    python3 - "$base" "$token" "$kind" "$1" "$2" <<'PY'
import http.client, json, sys, urllib.parse
base, token, kind, count, tag = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
u = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port)
body = "lorem ipsum " * 100
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
for i in range(count):
    if kind == "create":
        doc = {"title": f"Event cost {tag} {i}", "body": body, "tags": ["bench"]}
        path = "/api/v2/posts"
    else:
        doc = {"posts": [{"title": f"Event cost {tag} {i}-{j}", "body": body,
                          "tags": ["import", f"batch-{i % 10}"], "status": "published"}
                         for j in range(100)]}
        path = "/api/v2/bulk/posts"
    conn.request("POST", path, json.dumps(doc), headers)
    r = conn.getresponse()
    r.read()
    if r.status >= 300:
        sys.exit(f"{path}: {r.status}")
PY
  }
  # A warm-up request of the kind; then only the measured window is counted.
  client 1 "warm-$kind-$webhook-$count-$$"
  callgrind_control -z "$pid" > /dev/null
  local start; start=$(date +%s.%N)
  if [ "$count" -gt 0 ]; then
    client "$count" "$kind-$webhook-$count-$$"
  else
    sleep "$4"
  fi
  local seconds; seconds=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN{printf "%.1f", a-b}')
  cg_stop
  local dump=$cg_dump total recording
  total=$(grep -E '^(summary|totals):' "$dump" | head -1 | awk '{print $2}')
  recording=$(callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null | awk '
    /^ *[0-9,]+ / && /jekcms_store::activity::NewEventRows::(of|record)/ {
      v = $1; gsub(/,/, "", v)
      name = ($0 ~ /NewEventRows::of/) ? "of" : "record"
      if (v + 0 > best[name]) best[name] = v + 0
    }
    END { printf "%.0f", best["of"] + best["record"] }')
  # EVENTS_COST_KEEP=DIR keeps each round's profile (for callgrind_annotate).
  if [ -n "${EVENTS_COST_KEEP:-}" ] && [ "$count" -gt 0 ]; then
    cp "$dump" "$EVENTS_COST_KEEP/$kind-webhook$webhook.callgrind"
  fi
  rm -f "$cg_work"/cg.out*
  echo "$total $recording $seconds"
}

printf '%-28s %14s %12s %8s\n' "per request" "instructions" "recording" "share"
for webhook in 0 1; do
  for kind in create bulk; do
    count=$n
    [ "$kind" = bulk ] && count=$((n / 10))
    read -r busy recording seconds < <(round "$kind" "$webhook" "$count")
    # The server's background jobs during as long a window are not the requests'.
    read -r idle _ _ < <(round "$kind" "$webhook" 0 "$seconds")
    label="$kind, $([ "$webhook" = 1 ] && echo "1 webhook" || echo "no webhook")"
    awk -v b="$busy" -v i="$idle" -v r="$recording" -v c="$count" -v l="$label" 'BEGIN {
      printf "%-28s %14.0f %12.0f %7.1f %%\n", l, (b - i) / c, r / c, 100 * r / (b - i) }'
  done
done
