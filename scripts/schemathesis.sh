#!/usr/bin/env bash
# Schemathesis against the served OpenAPI document (/api/v2/openapi.json), on a fresh SQLite
# database and, when JEKCMS_TEST_POSTGRES_URL is set, on a fresh PostgreSQL database made
# here and dropped after. Each leg starts the debug server with rate limits off, creates an
# owner key (`jekcms keys create --json`), exchanges it for an access token, seeds one row of
# each kind, and runs every operation (v1 with the key pair, v2 with the token) through
# schemathesis's examples, coverage and fuzzing phases, at most ST_MAX_EXAMPLES (100) cases
# each. Fails on any server error (5xx), any response that does not match its declared
# schema, status or content type, or if the run's credential was lost on the way (then it
# tested nothing but 401s).
# Schemathesis is installed from PyPI into a venv of its own, every package pinned by
# scripts/schemathesis-requirements.txt.
#   scripts/schemathesis.sh            # both stores
#   ST_STORES=sqlite scripts/schemathesis.sh
#   ST_SEED=7 ST_MAX_EXAMPLES=300 scripts/schemathesis.sh   # explore beyond what CI replays
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

version=4.32.5
venv=${ST_VENV:-$root/.ci/.venv-schemathesis}
max_examples=${ST_MAX_EXAMPLES:-100}
stores=${ST_STORES:-sqlite postgres}

. scripts/lib/real-server.sh
pinned_venv "$venv" "$root/scripts/schemathesis-requirements.txt"
[ "$("$venv/bin/st" --version)" = "st, version $version" ] \
  || { echo "scripts/schemathesis-requirements.txt does not pin schemathesis $version" >&2; exit 1; }
cargo build -q -p jekcms-server
bin="${CARGO_TARGET_DIR:-$root/target}/debug/jekcms"
secret_key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')

run_leg() { # name database-url
  local name=$1 url=$2 work key token status
  work=$(mktemp -d)
  export JEKCMS_DATABASE_URL="$url" JEKCMS_SECRET_KEY="$secret_key" \
    JEKCMS_MEDIA_DIR="$work/media" \
    JEKCMS_RATE_LIMIT_STANDARD=off JEKCMS_RATE_LIMIT_ADMIN=off JEKCMS_RATE_LIMIT_AUTH=off \
    JEKCMS_OPEN_REGISTRATION=true JEKCMS_ACCESS_TOKEN_TTL=3600 JEKCMS_LOG=warn \
    JEKCMS_WEBHOOK_CONCURRENCY=0
  key=$("$bin" keys create --user owner@example.com --json)
  start_server "$bin" "$work"
  local base="http://$server_addr"
  local api_key api_secret
  api_key=$(echo "$key" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
  api_secret=$(echo "$key" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_secret"])')
  token=$(curl -sf "$base/api/v2/auth/token" -H 'Content-Type: application/json' \
    -d "{\"api_key\":\"$api_key\",\"api_secret\":\"$api_secret\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["access_token"])')
  local auth=(-H "Authorization: Bearer $token")
  # One row of each kind, so that small ids reach the found-it paths too.
  curl -sf "${auth[@]}" "$base/api/v2/posts" -H 'Content-Type: application/json' \
    -d '{"title":"Seeded","body":"text","status":"published","tags":["seed"]}' >/dev/null
  curl -sf "${auth[@]}" "$base/api/v2/users" -H 'Content-Type: application/json' \
    -d '{"name":"Ed","email":"ed@example.com","role":"editor"}' >/dev/null
  printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde' >"$work/dot.png"
  curl -sf "${auth[@]}" "$base/api/v2/media" -F "file=@$work/dot.png" -F alt_text=dot >/dev/null
  # A webhook (an address literal: no DNS needed; JEKCMS_WEBHOOK_CONCURRENCY=0 above, so
  # nothing the run queues is ever sent) with a ping in its log.
  curl -sf "${auth[@]}" "$base/api/v2/webhooks" -H 'Content-Type: application/json' \
    -d '{"url":"https://93.184.215.14/hooks/jekcms"}' >/dev/null
  curl -sf "${auth[@]}" -X POST "$base/api/v2/webhooks/1/test" >/dev/null

  echo "== schemathesis $version on $name ($base), at most $max_examples cases per operation"
  # One worker: with two threads, Hypothesis's lambda descriptions (ast.parse) hit CPython
  # 3.11's "AST constructor recursion depth mismatch" now and then, a runtime error of the
  # tool that fails the run without any fault of the server.
  status=0
  JEKCMS_ST_OWNER_USER_ID=$(echo "$key" | python3 -c 'import json,sys; print(json.load(sys.stdin)["user_id"])') \
  JEKCMS_ST_OWNER_KEY_ID=$(echo "$key" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key_id"])') \
  SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$root/scripts" \
    "$venv/bin/st" run "$base/api/v2/openapi.json" \
      --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
      --phases examples,coverage,fuzzing \
      --max-examples "$max_examples" --workers 1 --seed "${ST_SEED:-1}" --generation-database none \
      --generation-with-security-parameters false \
      --request-timeout 30 --no-color \
      --suppress-health-check all \
      "${auth[@]}" -H "X-API-Key: $api_key" -H "X-API-Secret: $api_secret" \
      --report junit --report-dir "$work/report" || status=$?
  # The credential must have survived: otherwise most of the run saw only 401s.
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$base/api/v2/me")" != 200 ]; then
    echo "the run's access token stopped working on $name: its results are not trustworthy" >&2
    status=1
  fi
  stop_server
  if server_panicked "$work"; then echo "(on $name)" >&2; status=1; fi
  if [ "$status" != 0 ]; then
    echo "schemathesis failed on $name; server log: $work/server.log" >&2
    exit "$status"
  fi
  rm -rf "$work"
  echo "schemathesis ok on $name"
}

for store in $stores; do
  case $store in
    sqlite) run_leg sqlite "sqlite://$(mktemp -d)/jekcms.db" ;;
    postgres)
      admin=${JEKCMS_TEST_POSTGRES_URL:?set JEKCMS_TEST_POSTGRES_URL for the PostgreSQL leg}
      db="jekcms_schemathesis_$$"
      psql -q "$admin" -c "CREATE DATABASE $db"
      trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
      run_leg postgres "${admin%/*}/$db"
      ;;
    *) echo "unknown store $store" >&2; exit 1 ;;
  esac
done
