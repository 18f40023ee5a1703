#!/usr/bin/env bash
# `just cluster`: a smoke test of the production topology, with real processes. Two server
# instances share one PostgreSQL database, one Redis and one media directory (as two
# instances behind a load balancer would). What one instance does must hold on the other, at
# once:
#   - a key made through A is usable on B;
#   - a post written through A is in B's next pull page and list (no stale cache or ETag);
#   - a per-credential quota is shared: requests to A and B draw from one bucket;
#   - a revocation on A is refused by B on the next request;
#   - a medium uploaded through A is served by B, by id and by public URL, and is gone from
#     both after a delete;
#   - the operator's `jekcms sites set --api-access off` is 402 on both, then on again.
# Needs PostgreSQL (JEKCMS_TEST_POSTGRES_URL, an admin URL) and Redis (JEKCMS_TEST_REDIS_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib/real-server.sh

admin=${JEKCMS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
redis=${JEKCMS_TEST_REDIS_URL:-redis://127.0.0.1:6379}
cargo build -q -p jekcms-server
bin="${CARGO_TARGET_DIR:-$root/target}/debug/jekcms"

db="jekcms_cluster_$$"
work=$(mktemp -d)
a_pid=; b_pid=
cleanup() {
  for p in $a_pid $b_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -q "$admin" -c "CREATE DATABASE $db"

export JEKCMS_DATABASE_URL="${admin%/*}/$db"
export JEKCMS_SECRET_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export JEKCMS_REDIS_URL="$redis" JEKCMS_REDIS_PREFIX="jekcms-cluster-$$:"
export JEKCMS_MEDIA_DIR="$work/media"
# Small enough to run out in this test; the admin tier is the owner's.
export JEKCMS_RATE_LIMIT_STANDARD=8/min JEKCMS_RATE_LIMIT_ADMIN=100000/min
mkdir -p "$work/a" "$work/b"
start_server "$bin" "$work/a"; a_pid=$server_pid; A="http://$server_addr"
server_pid=
start_server "$bin" "$work/b"; b_pid=$server_pid; B="http://$server_addr"
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

# A medium uploaded through A is served by B, and gone from both after a delete on B.
printf '\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x03\x00\x00\x00\x02\x08\x06\x00\x00\x00\x72\xb6\x0d\x24' > "$work/a.png"
media=$(curl -sf -X POST "$A/api/v2/media" -H "$OWNER" -F "file=@$work/a.png")
media_id=$(echo "$media" | jq .data.id)
public=$(echo "$media" | jq -r .data.public_url)
cmp -s <(curl -sf "$B/api/v2/media/$media_id/content" -H "$OWNER") "$work/a.png" || fail "B does not serve A's upload"
cmp -s <(curl -sf "$B$public") "$work/a.png" || fail "B does not serve A's public URL"
[ "$(status -X DELETE "$B/api/v2/media/$media_id" -H "$OWNER")" = 200 ] || fail "delete on B failed"
[ "$(status "$A$public")" = 404 ] || fail "A still serves a medium deleted on B"

# The operator switches the license off: 402 on both instances, then on again.
"$bin" sites set default --api-access off > /dev/null
for host in "$A" "$B"; do
  [ "$(status "$host/api/v2/posts" -H "$OWNER")" = 402 ] || fail "$host serves a site without a license"
  [ "$(status "$host/api/v2/pull/posts" -H "X-API-Key: $pk")" = 402 ] || fail "$host's pull API serves a site without a license"
done
"$bin" sites set default --api-access on > /dev/null
[ "$(status "$B/api/v2/posts" -H "$OWNER")" = 200 ] || fail "the license is back on but B refuses"

for w in a b; do
  ! server_panicked "$work/$w" || exit 1
done
echo "cluster ok: two instances on one PostgreSQL, Redis and media directory agree at once"
