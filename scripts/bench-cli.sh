#!/usr/bin/env bash
# Times jekcms-cli against the release server on SQLite (issue #7):
#   export: every post of a site seeded with `jekcms seed --posts 100000`, to JSON Lines;
#   import: the first 10,000 lines of that export into a fresh SQLite server;
#   import with media (#20): the same 10,000 posts, each body linking one of 1,000 media,
#     with `--media DIR` (a directory as `export --with-media` writes it, 1,000 PNG files
#     of BENCH_MEDIA_KB each, made here), into a fresh server: media uploaded, bodies
#     rewritten, posts created.
# All end to end (process start, sign-in, all pages or chunks, file written / summary).
# Knobs: BENCH_POSTS (100000), BENCH_IMPORT (10000), BENCH_MEDIA (1000), BENCH_MEDIA_KB (16),
# BENCH_RUNS (3), BENCH_OUT (bench-out/cli), BENCH_CONCURRENCY (chunks in flight during the
# import; the CLI's default, 2). Builds into CARGO_TARGET_DIR when set.
# Writes $BENCH_OUT/results.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
posts=${BENCH_POSTS:-100000}
import_n=${BENCH_IMPORT:-10000}
runs=${BENCH_RUNS:-3}
out=${BENCH_OUT:-bench-out/cli}
media_n=${BENCH_MEDIA:-1000}
media_kb=${BENCH_MEDIA_KB:-16}
command -v jq > /dev/null || { echo "needs jq" >&2; exit 1; }
command -v python3 > /dev/null || { echo "needs python3 (the standard library only)" >&2; exit 1; }

cargo build -q --release -p jekcms-server -p jekcms-cli
target=${CARGO_TARGET_DIR:-$root/target}
bin=$target/release/jekcms
cli=$target/release/jekcms-cli
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

# Import with media: a media directory as `export --with-media` writes it (records in
# media.jsonl, bytes in files/), and the posts' bodies linking them by their old public
# URLs (relative) and management URLs (absolute), all of which the import rewrites.
python3 - "$out/import.jsonl" "$out/import-media.jsonl" "$out/media" "$media_n" "$media_kb" <<'PY'
import hashlib, json, os, random, struct, sys
posts_in, posts_out, media_dir, n, kb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(20)
os.makedirs(os.path.join(media_dir, "files"), exist_ok=True)
with open(os.path.join(media_dir, "media.jsonl"), "w") as records:
    for i in range(1, n + 1):
        png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sIIBBBBB", 13, b"IHDR", i, 1, 8, 2, 0, 0, 0) + b"\0\0\0\0"
        data = png + rng.randbytes(kb * 1024)
        name = f"image-{i}.png"
        with open(os.path.join(media_dir, "files", f"{i}-{name}"), "wb") as f:
            f.write(data)
        at = "2026-01-01T00:00:00Z"
        records.write(json.dumps({
            "id": i, "author_id": 1, "filename": name, "mime_type": "image/png",
            "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "width": i, "height": 1, "alt_text": f"Image {i}",
            "url": f"/api/v2/media/{i}/content", "public_url": f"/m/oldtoken{i:05d}/{name}",
            "created_at": at, "updated_at": at}) + "\n")
with open(posts_in) as src, open(posts_out, "w") as dst:
    for k, line in enumerate(src):
        post = json.loads(line)
        i = k % n + 1
        post["body"] = (post.get("body") or "") + (
            f'\n<p><img src="/m/oldtoken{i:05d}/image-{i}.png" alt="Image {i}"></p>'
            f'\n<p><a href="https://old.example/api/v2/media/{i}/content">image {i}</a></p>')
        dst.write(json.dumps(post) + "\n")
PY
echo >> "$results"
echo "| run | import of $import_n posts with $media_n media (${media_kb} KiB each), ms | media uploaded | bodies rewritten | created |" >> "$results"
echo "| --- | --- | --- | --- | --- |" >> "$results"
for run in $(seq 1 "$runs"); do
  rm -rf "$out/import"; mkdir -p "$out/import"
  start_server "$out/import"
  t=$(now)
  summary=$("$cli" --quiet import "$out/import-media.jsonl" --media "$out/media" \
    --concurrency "${BENCH_CONCURRENCY:-2}" --json 2> "$out/import-media.log")
  ms=$(ms_since "$t")
  created=$(echo "$summary" | jq .created)
  uploaded=$(echo "$summary" | jq .media.uploaded)
  rewritten=$(echo "$summary" | jq .media.bodies_rewritten)
  [ "$created" = "$import_n" ] && [ "$uploaded" = "$media_n" ] && [ "$rewritten" = "$import_n" ] || {
    echo "created $created, uploaded $uploaded, rewrote $rewritten" >&2; cat "$out/import-media.log" >&2; exit 1; }
  echo "| $run | $ms | $uploaded | $rewritten | $created |" >> "$results"
  stop_server
done
cat "$results"
