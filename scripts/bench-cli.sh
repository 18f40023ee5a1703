#!/usr/bin/env bash
# Times jekcms-cli against the release server on SQLite (issue #7):
#   export: every post of a site seeded with `jekcms seed --posts 100000`, to JSON Lines;
#   import: the first 10,000 lines of that export into a fresh SQLite server.
# Both end to end (process start, sign-in, all pages or chunks, file written / summary).
# Knobs: BENCH_POSTS (100000), BENCH_IMPORT (10000), BENCH_RUNS (3), BENCH_OUT (bench-out/cli),
# BENCH_CONCURRENCY (chunks in flight during the import; the CLI's default, 2).
# Writes $BENCH_OUT/results.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
posts=${BENCH_POSTS:-100000}
import_n=${BENCH_IMPORT:-10000}
runs=${BENCH_RUNS:-3}
out=${BENCH_OUT:-bench-out/cli}
command -v jq > /dev/null || { echo "needs jq" >&2; exit 1; }

cargo build -q --release -p jekcms-server -p jekcms-cli
bin=$root/target/release/jekcms
cli=$root/target/release/jekcms-cli
rm -rf "$out"; mkdir -p "$out"
results=$out/results.md
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; true' EXIT

now() { date +%s%N; }
ms_since() { echo $(( ($(now) - $1) / 1000000 )); }

# start_server DIR: a release server on DIR/jekcms.db with quotas off; sets pid, base, creds.
start_server() {
  local dir=$1
  export JEKCMS_DATABASE_URL="sqlite://$dir/jekcms.db" JEKCMS_MEDIA_DIR="$dir/media" \
    JEKCMS_RATE_LIMIT_STANDARD=off JEKCMS_RATE_LIMIT_ADMIN=off JEKCMS_RATE_LIMIT_AUTH=off JEKCMS_LOG=warn
  creds=$("$bin" keys create --user bench@example.com --json)
  JEKCMS_BIND=127.0.0.1:0 "$bin" serve > "$dir/stdout" 2> "$dir/server.log" &
  pid=$!
  until grep -q listening "$dir/stdout" 2>/dev/null; do sleep 0.005; done
  base=$(sed -n 's/^listening on //p' "$dir/stdout" | head -1)
  export JEKCMS_URL=$base
  JEKCMS_API_KEY=$(echo "$creds" | jq -r .api_key)
  JEKCMS_API_SECRET=$(echo "$creds" | jq -r .api_secret)
  export JEKCMS_API_KEY JEKCMS_API_SECRET
}
stop_server() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

{
  echo "# jekcms-cli on SQLite ($(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD))"
  echo
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(rustc --version | cut -d' ' -f1-2)"
  echo "- quotas off on the server (\`JEKCMS_RATE_LIMIT_*=off\`); with the default admin quota"
  echo "  of 300 requests a minute an export is paced at 300 pages (30,000 posts) a minute"
  echo
} > "$results"

# Export.
mkdir -p "$out/export"
JEKCMS_DATABASE_URL="sqlite://$out/export/jekcms.db" "$bin" seed --posts "$posts" > /dev/null 2>&1
start_server "$out/export"
echo "| run | export of $posts posts, ms | posts/s | file MB |" >> "$results"
echo "| --- | --- | --- | --- |" >> "$results"
for run in $(seq 1 "$runs"); do
  t=$(now)
  "$cli" --quiet export --output "$out/posts.jsonl" 2> "$out/export.log"
  ms=$(ms_since "$t")
  lines=$(wc -l < "$out/posts.jsonl")
  [ "$lines" = "$posts" ] || { echo "exported $lines posts, not $posts" >&2; cat "$out/export.log" >&2; exit 1; }
  mb=$(( $(stat -c %s "$out/posts.jsonl") / 1048576 ))
  echo "| $run | $ms | $(( posts * 1000 / ms )) | $mb |" >> "$results"
done
stop_server
echo >> "$results"

# Import into a fresh server each run.
head -n "$import_n" "$out/posts.jsonl" > "$out/import.jsonl"
echo "| run | import of $import_n posts from JSON Lines, ms | posts/s | created |" >> "$results"
echo "| --- | --- | --- | --- |" >> "$results"
for run in $(seq 1 "$runs"); do
  rm -rf "$out/import"; mkdir -p "$out/import"
  start_server "$out/import"
  t=$(now)
  summary=$("$cli" --quiet import "$out/import.jsonl" --concurrency "${BENCH_CONCURRENCY:-2}" --json 2> "$out/import.log")
  ms=$(ms_since "$t")
  created=$(echo "$summary" | jq .created)
  [ "$created" = "$import_n" ] || { echo "created $created, not $import_n" >&2; cat "$out/import.log" >&2; exit 1; }
  echo "| $run | $ms | $(( import_n * 1000 / ms )) | $created |" >> "$results"
  stop_server
done
cat "$results"
