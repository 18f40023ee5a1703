#!/usr/bin/env bash
# Runs the README's walk-through against a fresh server, on SQLite and (when
# JEKCMS_TEST_POSTGRES_URL is set) on PostgreSQL, and checks what it printed.
# The only change to the README's text: `--release` is dropped so the debug build that the
# tests made is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

block=$(sed -n '/<!-- walkthrough:start -->/,/<!-- walkthrough:end -->/p' README.md \
  | sed '1,2d;$d' | sed '$d' | sed 's/ --release//g')
cargo build -q -p jekcms-server

run_leg() { # name database-url
  local name=$1 url=$2 work port log
  work=$(mktemp -d)
  port=$((20000 + RANDOM % 20000))
  log="$work/server.log"
  # `exec`, so that $! is the server itself and `kill` stops it.
  (cd "$work" && JEKCMS_DATABASE_URL="$url" JEKCMS_BIND="127.0.0.1:$port" \
    exec "${CARGO_TARGET_DIR:-$root/target}/debug/jekcms" serve >"$work/out" 2>"$log") &
  local pid=$!
  for _ in $(seq 1 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
  out=$(cd "$root" && JEKCMS_DATABASE_URL="$url" JEKCMS_MEDIA_DIR="$work/media" BASE="http://127.0.0.1:$port" \
    bash -euo pipefail -c "$block
      test \"\$(echo \"\$PAGE\" | jq '.data | length')\" = 2
      test \"\$(echo \"\$LAST\" | jq '.data | length')\" = 1
      test \"\$(echo \"\$LAST\" | jq '.meta.has_more')\" = false
      case \"\$ACCESS\" in v4.local.*) ;; *) exit 1;; esac
      code=\$(curl -s -o /dev/null -w '%{http_code}' -X POST \"\$BASE/api/v2/auth/refresh\" -H 'Content-Type: application/json' -d \"{\\\"refresh_token\\\": \\\"\$REFRESH\\\"}\")
      test \"\$code\" = 401") || { echo "walk-through failed on $name"; cat "$log"; kill "$pid"; exit 1; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
  if grep -qE 'v4\.local\.|rf_[0-9A-Za-z]{10}|sk_[0-9A-Za-z]{10}' "$log"; then
    echo "a token or secret reached the server log on $name"; exit 1
  fi
  echo "$out"
  echo "walk-through ok on $name"
  rm -rf "$work"
}

run_leg sqlite "sqlite://$(mktemp -d)/jekcms.db"
if [ -n "${JEKCMS_TEST_POSTGRES_URL:-}" ]; then
  db="jekcms_walkthrough_$$"
  admin="$JEKCMS_TEST_POSTGRES_URL"
  psql -q "$admin" -c "CREATE DATABASE $db"
  trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
  run_leg postgres "${admin%/*}/$db"
fi
