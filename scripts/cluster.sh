#!/usr/bin/env bash
# `just cluster`: a smoke test of the production topology, with real processes. Two server
# instances share one PostgreSQL database, one Redis and one S3 bucket (moto's S3 server,
# installed pinned by scripts/moto.sh), each with a media directory of its own that must stay
# unused (as two instances on two machines behind a load balancer would). What one instance does must hold on the other, at
# once:
#   - a key made through A is usable on B;
#   - a post written through A is in B's next pull page and list (no stale cache or ETag);
#   - a per-credential quota is shared: requests to A and B draw from one bucket;
#   - a revocation on A is refused by B on the next request;
#   - a medium uploaded through A (a small one and one of several multipart parts) is served
#     by B, by id, by range and by public URL, and is gone from both and from the bucket after
#     a delete;
#   - the operator's `jekcms sites set --api-access off` is 402 on both, then on again;
#   - two more instances C and D with a pull lease (JEKCMS_PULL_LEASE_MS): D serves pull pages
#     without reading the key's site, yet a write, a rotation or a license change through C
#     or the CLI is answered only once D's next request sees it.
# Needs PostgreSQL (JEKCMS_TEST_POSTGRES_URL, an admin URL) and Redis (JEKCMS_TEST_REDIS_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib/real-server.sh

admin=${JEKCMS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
redis=${JEKCMS_TEST_REDIS_URL:-redis://127.0.0.1:6379}
moto_server=$(scripts/moto.sh)
cargo build -q -p jekcms-server
bin="${CARGO_TARGET_DIR:-$root/target}/debug/jekcms"

db="jekcms_cluster_$$"
work=$(mktemp -d)
a_pid=; b_pid=; c_pid=; d_pid=; moto_pid=
cleanup() {
  for p in $a_pid $b_pid $c_pid $d_pid $moto_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$admin" -c "CREATE DATABASE $db"

export JEKCMS_DATABASE_URL="${admin%/*}/$db"
export JEKCMS_SECRET_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export JEKCMS_REDIS_URL="$redis" JEKCMS_REDIS_PREFIX="jekcms-cluster-$$:"
# The S3 server, on a port of its own choosing would be nicer; moto takes one: find a free one.
moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 1 150); do curl -sf -o /dev/null "http://127.0.0.1:$moto_port/" && break; sleep 0.2; done
curl -sf -o /dev/null "http://127.0.0.1:$moto_port/" || { echo "cluster: moto did not start:" >&2; cat "$work/moto.log" >&2; exit 1; }
curl -sf -o /dev/null -X PUT "http://127.0.0.1:$moto_port/jekcms-cluster"
export JEKCMS_MEDIA_STORE=s3://jekcms-cluster/media AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" \
  AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=cluster AWS_SECRET_ACCESS_KEY=cluster-secret
bucket_objects() { curl -sf "http://127.0.0.1:$moto_port/jekcms-cluster?list-type=2&prefix=media/" | grep -o '<Key>' | wc -l; }
# Small enough to run out in this test; the admin tier is the owner's.
export JEKCMS_RATE_LIMIT_STANDARD=8/min JEKCMS_RATE_LIMIT_ADMIN=100000/min
mkdir -p "$work/a" "$work/b"
JEKCMS_MEDIA_DIR="$work/a/media" start_server "$bin" "$work/a"; a_pid=$server_pid; A="http://$server_addr"
server_pid=
JEKCMS_MEDIA_DIR="$work/b/media" start_server "$bin" "$work/b"; b_pid=$server_pid; B="http://$server_addr"
server_pid=

fail() { echo "cluster: $*" >&2; echo "--- A:" >&2; tail -20 "$work/a/server.log" >&2; echo "--- B:" >&2; tail -20 "$work/b/server.log" >&2; exit 1; }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
token_of() { # base creds-json
  curl -sf -X POST "$1/api/v2/auth/token" -H 'Content-Type: application/json' \
    -d "$(echo "$2" | jq -c '{api_key, api_secret}')" | jq -r .data.access_token
}

# A key made once, exchanged on A and used on B.
owner_creds=$("$bin" keys create --user owner@example.com --json)
OWNER="Authorization: Bearer $(token_of "$A" "$owner_creds")"
[ "$(status "$B/api/v2/me" -H "$OWNER")" = 200 ] || fail "a token from A is refused by B"
site_id=$(curl -sf "$B/api/v2/site" -H "$OWNER" | jq .data.id)
pk=$(curl -sf -X POST "$A/api/v2/sites/$site_id/rotate-keys" -H "$OWNER" \
  -H 'Content-Type: application/json' -d '{}' | jq -r .data.new_api_key)

# Writes through A, reads through B: the pull page (cached on B) and the list's ETag.
curl -sf "$B/api/v2/pull/posts" -H "X-API-Key: $pk" > /dev/null
etag=$(curl -sf -D - -o /dev/null "$B/api/v2/posts" -H "$OWNER" | tr -d '\r' | sed -n 's/^etag: //Ip')
curl -sf -X POST "$A/api/v2/posts" -H "$OWNER" -H 'Content-Type: application/json' \
  -d '{"title": "Written on A", "slug": "written-on-a", "status": "published"}' > /dev/null
[ "$(curl -sf "$B/api/v2/pull/posts" -H "X-API-Key: $pk" | jq -r '.data[0].slug')" = written-on-a ] \
  || fail "B's pull page is stale after a write on A"
[ "$(status "$B/api/v2/posts" -H "$OWNER" -H "If-None-Match: $etag")" = 200 ] \
  || fail "B answered 304 to a list that changed on A"

# One quota for both instances: 8 a minute for an editor's key, spent alternately on A and B.
editor_creds=$("$bin" keys create --user editor@example.com --role editor --json)
EDITOR="Authorization: Bearer $(token_of "$A" "$editor_creds")"
codes=""
for i in $(seq 1 9); do
  host=$A; [ $((i % 2)) = 0 ] && host=$B
  codes="$codes $(status "$host/api/v2/posts?limit=1" -H "$EDITOR")"
done
[ "$codes" = " 200 200 200 200 200 200 200 200 429" ] || fail "the quota is not shared: $codes"

# A revocation on A is refused by B on the next request.
key_id=$(echo "$editor_creds" | jq -r .key_id)
[ "$(status -X DELETE "$A/api/v2/api-keys/$key_id" -H "$OWNER")" = 200 ] || fail "revoke on A failed"
[ "$(status "$B/api/v2/me" -H "$EDITOR")" = 401 ] || fail "B still accepts a key revoked on A"

# Media uploaded through A are served by B (from the bucket), and gone from both and from the
# bucket after a delete on B. The large one goes up as a multipart upload.
printf '\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x03\x00\x00\x00\x02\x08\x06\x00\x00\x00\x72\xb6\x0d\x24' > "$work/a.png"
{ cat "$work/a.png"; head -c 12000000 /dev/urandom; } > "$work/big.png"
for file in a.png big.png; do
  media=$(curl -sf -X POST "$A/api/v2/media" -H "$OWNER" -F "file=@$work/$file")
  media_id=$(echo "$media" | jq .data.id)
  public=$(echo "$media" | jq -r .data.public_url)
  cmp -s <(curl -sf "$B/api/v2/media/$media_id/content" -H "$OWNER") "$work/$file" || fail "B does not serve A's upload $file"
  cmp -s <(curl -sf "$B$public") "$work/$file" || fail "B does not serve A's public URL of $file"
  cmp -s <(curl -sf "$B$public" -H 'Range: bytes=3-20') <(head -c 21 "$work/$file" | tail -c 18) || fail "B's range of $file is wrong"
  [ "$(bucket_objects)" = 1 ] || fail "the bucket holds $(bucket_objects) objects, not 1"
  [ -z "$(ls -A "$work/a/media" "$work/b/media" 2>/dev/null | grep -v ':$' | grep -v '^$' || true)" ] \
    || fail "a media directory was written to with JEKCMS_MEDIA_STORE set"
  [ "$(status -X DELETE "$B/api/v2/media/$media_id" -H "$OWNER")" = 200 ] || fail "delete on B failed"
  [ "$(status "$A$public")" = 404 ] || fail "A still serves a medium deleted on B"
  [ "$(bucket_objects)" = 0 ] || fail "the deleted medium's object is still in the bucket"
done

# The operator switches the license off: 402 on both instances, then on again.
"$bin" sites set default --api-access off > /dev/null
for host in "$A" "$B"; do
  [ "$(status "$host/api/v2/posts" -H "$OWNER")" = 402 ] || fail "$host serves a site without a license"
  [ "$(status "$host/api/v2/pull/posts" -H "X-API-Key: $pk")" = 402 ] || fail "$host's pull API serves a site without a license"
done
"$bin" sites set default --api-access on > /dev/null
[ "$(status "$B/api/v2/posts" -H "$OWNER")" = 200 ] || fail "the license is back on but B refuses"

# Under a pull lease: C writes, D reads, the operator's CLI runs with the same lease.
export JEKCMS_PULL_LEASE_MS=300
mkdir -p "$work/c" "$work/d"
JEKCMS_MEDIA_DIR="$work/c/media" start_server "$bin" "$work/c"; c_pid=$server_pid; C="http://$server_addr"
server_pid=
JEKCMS_MEDIA_DIR="$work/d/media" start_server "$bin" "$work/d"; d_pid=$server_pid; D="http://$server_addr"
server_pid=
first_slug() { curl -sf "$D/api/v2/pull/posts" -H "X-API-Key: $1" | jq -r '.data[0].slug'; }
[ "$(first_slug "$pk")" = written-on-a ] || fail "D's pull page is not the site's"
took=$(curl -sf -o /dev/null -w '%{time_total}' -X POST "$C/api/v2/posts" -H "$OWNER" -H 'Content-Type: application/json' \
  -d '{"title": "Written on C", "slug": "written-on-c", "status": "published"}')
awk -v t="$took" 'BEGIN { exit !(t >= 0.3) }' || fail "a write under a lease of 300 ms was answered in $took s"
[ "$(first_slug "$pk")" = written-on-c ] || fail "D's pull page is stale after a write on C under a lease"
new_pk=$(curl -sf -X POST "$C/api/v2/sites/$site_id/rotate-keys" -H "$OWNER" \
  -H 'Content-Type: application/json' -d '{}' | jq -r .data.new_api_key)
[ "$(status "$D/api/v2/pull/posts" -H "X-API-Key: $pk")" = 401 ] || fail "D accepts a key rotated out on C under a lease"
[ "$(first_slug "$new_pk")" = written-on-c ] || fail "D refuses the new key"
"$bin" sites set default --api-access off > /dev/null
[ "$(status "$D/api/v2/pull/posts" -H "X-API-Key: $new_pk")" = 402 ] || fail "D serves a site without a license under a lease"
"$bin" sites set default --api-access on > /dev/null
[ "$(first_slug "$new_pk")" = written-on-c ] || fail "the license is back on but D refuses"

for w in a b c d; do
  ! server_panicked "$work/$w" || exit 1
done
echo "cluster ok: two instances on one PostgreSQL, Redis and S3 bucket agree at once"
