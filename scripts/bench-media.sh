#!/usr/bin/env bash
# `just bench-media`: media through the local directory vs S3 (moto's server, pinned by
# scripts/moto.sh), with the release build on SQLite:
#   - the median wall time of uploading and of downloading a 10 MB file (curl, 5 runs each,
#     over loopback); the target is S3 <= 2x the local directory;
#   - the server's memory during a 100 MB upload: VmRSS before (after a 1 MB warm-up upload)
#     and VmHWM (the peak) after, from /proc/PID/status; the target is growth < 5 MB.
# moto keeps objects in its own memory and answers from Python: it is a stand-in for the
# protocol's costs (multipart, ranged GETs, signing), not for a production object store.
#   scripts/bench-media.sh            (RUNS=5 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib/real-server.sh

runs=${RUNS:-5}
moto_server=$(scripts/moto.sh)
cargo build -q --release -p jekcms-server
bin="${CARGO_TARGET_DIR:-$root/target}/release/jekcms"

work=$(mktemp -d)
moto_pid=
cleanup() {
  stop_server
  [ -n "$moto_pid" ] && { kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 1 150); do curl -sf -o /dev/null "http://127.0.0.1:$moto_port/" && break; sleep 0.2; done
curl -sf -o /dev/null -X PUT "http://127.0.0.1:$moto_port/jekcms-bench"

png() { # FILE BYTES: a PNG header then random bytes, BYTES long in all
  printf '\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x03\x00\x00\x00\x02\x08\x06\x00\x00\x00\x72\xb6\x0d\x24' > "$1"
  head -c $(($2 - 33)) /dev/urandom >> "$1"
}
png "$work/1mb.png" 1000000
png "$work/10mb.png" 10000000
png "$work/100mb.png" 100000000

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$server_pid/status"; }

printf '%-6s %12s %12s %14s %14s %12s\n' store upload_10MB download_10MB rss_before_kB hwm_after_kB growth_kB
for store in local s3; do
  dir="$work/$store"; mkdir -p "$dir"
  export JEKCMS_DATABASE_URL="sqlite://$dir/jekcms.db" JEKCMS_MEDIA_DIR="$dir/media" \
    JEKCMS_SECRET_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n') JEKCMS_LOG=warn \
    JEKCMS_MAX_UPLOAD_BYTES=200000000 JEKCMS_RATE_LIMIT_STANDARD=off JEKCMS_RATE_LIMIT_ADMIN=off
  if [ "$store" = s3 ]; then
    export JEKCMS_MEDIA_STORE="s3://jekcms-bench/$store" AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" \
      AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
  else
    unset JEKCMS_MEDIA_STORE
  fi
  creds=$("$bin" keys create --user owner@example.com --json)
  start_server "$bin" "$dir"
  base="http://$server_addr"
  token=$(curl -sf -X POST "$base/api/v2/auth/token" -H 'Content-Type: application/json' \
    -d "$(echo "$creds" | jq -c '{api_key, api_secret}')" | jq -r .data.access_token)
  auth="Authorization: Bearer $token"

  # Memory first, on a fresh process: a small upload warms it up, then 100 MB.
  curl -sf -o /dev/null -X POST "$base/api/v2/media" -H "$auth" -F "file=@$work/1mb.png"
  before=$(kib VmRSS)
  curl -sf -o /dev/null -X POST "$base/api/v2/media" -H "$auth" -F "file=@$work/100mb.png"
  hwm=$(kib VmHWM)

  ups=(); downs=()
  for _ in $(seq 1 "$runs"); do
    out=$(curl -sf -X POST "$base/api/v2/media" -H "$auth" -F "file=@$work/10mb.png" -w '\n%{time_total}')
    ups+=("$(echo "$out" | tail -1)")
    id=$(echo "$out" | head -1 | jq .data.id)
    downs+=("$(curl -sf -o "$work/got" "$base/api/v2/media/$id/content" -H "$auth" -w '%{time_total}')")
    cmp -s "$work/got" "$work/10mb.png" || { echo "bench-media: $store served other bytes" >&2; exit 1; }
  done
  printf '%-6s %11.3fs %11.3fs %14s %14s %12s\n' "$store" \
    "$(printf '%s\n' "${ups[@]}" | median)" "$(printf '%s\n' "${downs[@]}" | median)" \
    "$before" "$hwm" "$((hwm - before))"
  stop_server; server_pid=
done
