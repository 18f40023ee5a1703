#!/usr/bin/env bash
# Peak memory of the server under bodies built to make big error answers (issue #14, item 4):
# CONCURRENCY (8) requests at once, each a 4 MB JSON body of tiny unknown keys, ROUNDS (5)
# times, to POST /api/v2/posts as an owner (so the body is read and parsed), then the same as
# a viewer (refused before the body is read). Prints the server's peak RSS (VmHWM) before the
# load and after it, and the size of the largest answer. Fails if the peak passes LIMIT_MB
# (100).
#
# JEKCMS_BIN: the server binary (default: a release build, made here).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
concurrency=${CONCURRENCY:-8}
rounds=${ROUNDS:-5}
limit_mb=${LIMIT_MB:-100}
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is needed" >&2; exit 1; }

bin=${JEKCMS_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p jekcms-server --bin jekcms
  bin="${CARGO_TARGET_DIR:-$root/target}/release/jekcms"
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export JEKCMS_DATABASE_URL="sqlite://$work/bench.db" JEKCMS_MEDIA_DIR="$work/media" \
  JEKCMS_BIND=127.0.0.1:0 JEKCMS_LOG=warn JEKCMS_RATE_LIMIT_STANDARD=off \
  JEKCMS_RATE_LIMIT_ADMIN=off JEKCMS_RATE_LIMIT_AUTH=off

token_for() { # email role -> access token
  local key
  key=$("$bin" keys create --user "$1" --role "$2" --json)
  curl -sf "$base/api/v2/auth/token" -H 'content-type: application/json' \
    -d "$(jq -c '{api_key, api_secret}' <<<"$key")" | jq -r .data.access_token
}

"$bin" migrate 2>/dev/null
"$bin" serve > "$work/out" 2> "$work/err" &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$work/out" | head -1)
[ -n "$base" ] || { echo "the server did not start" >&2; cat "$work/err" >&2; exit 1; }
owner=$(token_for owner@bench.example owner)
viewer=$(token_for viewer@bench.example viewer)

# 4 MB minus a little: {"0":0,"1":0,…} — about 520,000 unknown keys.
python3 - "$work/body.json" <<'EOF'
import sys
limit = 4 * 1024 * 1024 - 64
parts, size, i = [], 1, 0
while True:
    part = '"%x":0' % i
    if size + len(part) + 1 > limit:
        break
    parts.append(part); size += len(part) + 1; i += 1
open(sys.argv[1], "w").write("{" + ",".join(parts) + "}")
EOF

peak_kb() { awk '/VmHWM/ {print $2}' "/proc/$server_pid/status"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$server_pid/status"; }
before_peak=$(peak_kb)
before_rss=$(rss_kb)

load() { # token label
  local round n pids
  : > "$work/sizes"
  for round in $(seq "$rounds"); do
    pids=()
    for n in $(seq "$concurrency"); do
      curl -s -o /dev/null -w '%{http_code} %{size_download}\n' "$base/api/v2/posts" \
        -H "authorization: Bearer $1" -H 'content-type: application/json' \
        --data-binary "@$work/body.json" >> "$work/sizes" &
      pids+=($!)
    done
    wait "${pids[@]}" # not a bare `wait`: the server is a child too
  done
  echo "$2: statuses $(cut -d' ' -f1 "$work/sizes" | sort | uniq -c | xargs), largest answer $(cut -d' ' -f2 "$work/sizes" | sort -n | tail -1) bytes, peak RSS now $(( $(peak_kb) / 1024 )) MB"
}

echo "server $(basename "$bin") at $base; body $(( $(stat -c %s "$work/body.json") / 1024 )) KiB; $concurrency at once, $rounds rounds"
echo "before: RSS $(( before_rss / 1024 )) MB, peak $(( before_peak / 1024 )) MB"
load "$owner" "owner (body read and parsed)"
load "$viewer" "viewer (refused before the body)"
after_peak=$(peak_kb)
echo "peak RSS: $(( after_peak / 1024 )) MB (limit $limit_mb MB)"
[ "$after_peak" -le $(( limit_mb * 1024 )) ] || { echo "over the limit" >&2; exit 1; }
