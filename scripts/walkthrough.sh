#!/usr/bin/env bash
# Runs the README's walk-through, then the examples of docs/migrating-v1-to-v2.md (every
# block between <!-- example:start --> and <!-- example:end -->, in order, as one script),
# each against a fresh server, on SQLite and (when JEKCMS_TEST_POSTGRES_URL is set) on
# PostgreSQL, and checks what they did.
# The only change to the documents' text: `--release` is dropped so the debug build that the
# tests made is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib/real-server.sh

block=$(sed -n '/<!-- walkthrough:start -->/,/<!-- walkthrough:end -->/p' README.md \
  | sed '1,2d;$d' | sed '$d' | sed 's/ --release//g')
migration=$(sed -n '/<!-- example:start -->/,/<!-- example:end -->/p' docs/migrating-v1-to-v2.md \
  | grep -v -e '^<!--' -e '^```' | sed 's/ --release//g')
api_examples=$(sed -n '/<!-- api-example:start -->/,/<!-- api-example:end -->/p' docs/api.md \
  | grep -v -e '^<!--' -e '^```' | sed 's/ --release//g')
cargo build -q -p jekcms-server

readme_checks='
      test "$(echo "$PAGE" | jq ".data | length")" = 2
      test "$(echo "$LAST" | jq ".data | length")" = 1
      test "$(echo "$LAST" | jq ".meta.has_more")" = false
      case "$ACCESS" in v4.local.*) ;; *) exit 1;; esac
      code=$(curl -s -o /dev/null -w "%{http_code}" -X POST "$BASE/api/v2/auth/refresh" -H "Content-Type: application/json" -d "{\"refresh_token\": \"$REFRESH\"}")
      test "$code" = 401'
# The export saw the one post that existed then; at the end: that post, "Created once" (once,
# despite the retry), two bulk-imported posts; the v1 draft was deleted through v2.
migration_checks='
      test "$(wc -l < "$EXPORT")" = 1
      test "$(curl -sf "$BASE/api/v2/posts?limit=1&include=total" -H "Authorization: Bearer $ACCESS" | jq .meta.total)" = 4
      test "$(curl -sf "$BASE/api/v2/posts?limit=1&include=total&q=created+once" -H "Authorization: Bearer $ACCESS" | jq .meta.total)" = 1
      test "$(curl -s -o /dev/null -w "%{http_code}" "$BASE/api/v2/posts/$ID" -H "Authorization: Bearer $ACCESS")" = 404
      rm -f "$EXPORT"'

# docs/api.md: the retried create made one post, the walk saw all four, the old ETag is stale;
# the pull API shows the one published post (the bulk-imported three are drafts) by its slug.
api_checks='
      test "$(curl -sf "$BASE/api/v2/posts?limit=1&include=total" -H "$AUTH" | jq .meta.total)" = 4
      test "$SLUG" = hello-api
      test "$(curl -sf "$BASE/api/v2/pull/posts?include=total" -H "X-API-Key: $PULL_KEY" | jq .meta.total)" = 1
      test "$SEEN" = 4
      test "$(curl -s -o /dev/null -w "%{http_code}" -X PATCH "$BASE/api/v2/posts/$ID" -H "$AUTH" -H "If-Match: $ETAG" -H "Content-Type: application/json" -d "{}")" = 412'

run_leg() { # name database-url script checks
  local name=$1 url=$2 script=$3 checks=$4 work log
  work=$(mktemp -d)
  log="$work/server.log"
  JEKCMS_DATABASE_URL="$url" start_server "${CARGO_TARGET_DIR:-$root/target}/debug/jekcms" "$work"
  out=$(cd "$root" && JEKCMS_DATABASE_URL="$url" JEKCMS_MEDIA_DIR="$work/media" BASE="http://$server_addr" \
    bash -euo pipefail -c "$script
      $checks") || { echo "walk-through failed on $name"; cat "$log"; stop_server; exit 1; }
  stop_server
  if grep -qE 'v4\.local\.|rf_[0-9A-Za-z]{10}|sk_[0-9A-Za-z]{10}|pk_[0-9A-Za-z]{10}|whsec_[0-9A-Za-z]{10}' "$log"; then
    echo "a token or secret reached the server log on $name"; exit 1
  fi
  echo "$out"
  echo "walk-through ok on $name"
  rm -rf "$work"
}

run_leg sqlite "sqlite://$(mktemp -d)/jekcms.db" "$block" "$readme_checks"
run_leg "sqlite (migration guide)" "sqlite://$(mktemp -d)/jekcms.db" "$migration" "$migration_checks"
run_leg "sqlite (docs/api.md)" "sqlite://$(mktemp -d)/jekcms.db" "$api_examples" "$api_checks"
if [ -n "${JEKCMS_TEST_POSTGRES_URL:-}" ]; then
  db="jekcms_walkthrough_$$"
  admin="$JEKCMS_TEST_POSTGRES_URL"
  # PostgreSQL deployments bring their own key (SQLite keeps a generated one beside the file).
  JEKCMS_SECRET_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  export JEKCMS_SECRET_KEY
  psql -q "$admin" -c "CREATE DATABASE $db"
  trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
  run_leg postgres "${admin%/*}/$db" "$block" "$readme_checks"
  psql -q "$admin" -c "DROP DATABASE $db WITH (FORCE)" -c "CREATE DATABASE $db"
  run_leg "postgres (migration guide)" "${admin%/*}/$db" "$migration" "$migration_checks"
  psql -q "$admin" -c "DROP DATABASE $db WITH (FORCE)" -c "CREATE DATABASE $db"
  run_leg "postgres (docs/api.md)" "${admin%/*}/$db" "$api_examples" "$api_checks"
fi
