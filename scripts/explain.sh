#!/usr/bin/env bash
# Prints the query plans of the list queries (first page and a keyset page) on a seeded
# database: proof that a page is an index range scan of `limit` rows, with no sort of the
# table and no OFFSET. Usage: scripts/explain.sh sqlite PATH | scripts/explain.sh postgres URL
# The SQL has the shape diesel generates in crates/jekcms-store/src/posts.rs.
set -euo pipefail
store=$1 target=$2
cols="id, site_id, author_id, title, slug, excerpt, body, status, tags, published_at, created_at, updated_at, version"
case $store in
  sqlite)
    python3 - "$target" "$cols" <<'PY'
import sqlite3, sys
db, cols = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db)
# The last page and the middle of the site, whatever its size.
n = c.execute("SELECT count(*) FROM posts WHERE site_id = 1").fetchone()[0]
deep, mid = max(n - 21, 0), n // 2
k, i = c.execute(f"SELECT created_at, id FROM posts WHERE site_id = 1 ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET {deep}").fetchone()
t, ti = c.execute(f"SELECT title_key, id FROM posts WHERE site_id = 1 ORDER BY title_key, id LIMIT 1 OFFSET {mid}").fetchone()
queries = [
  ("first page, -created_at", f"SELECT {cols} FROM posts WHERE posts.site_id = ? ORDER BY posts.created_at DESC, posts.id DESC LIMIT 21", (1,)),
  (f"last page (depth {deep + 1:,}), -created_at", f"SELECT {cols} FROM posts WHERE posts.site_id = ? AND posts.created_at <= ? AND (posts.created_at < ? OR posts.created_at = ? AND posts.id < ?) ORDER BY posts.created_at DESC, posts.id DESC LIMIT 21", (1, k, k, k, i)),
  (f"depth {mid + 1:,}, title", f"SELECT {cols} FROM posts WHERE posts.site_id = ? AND posts.title_key >= ? AND (posts.title_key > ? OR posts.title_key = ? AND posts.id > ?) ORDER BY posts.title_key ASC, posts.id ASC LIMIT 21", (1, t, t, t, ti)),
  ("status=published, first page", f"SELECT {cols} FROM posts WHERE posts.site_id = ? AND posts.status = ? ORDER BY posts.created_at DESC, posts.id DESC LIMIT 21", (1, "published")),
]
for name, sql, args in queries:
    print(f"-- {name}")
    for row in c.execute("EXPLAIN QUERY PLAN " + sql, args):
        print("   ", row[3])
PY
    ;;
  postgres)
    n=$(psql -Atq "$target" -c "SELECT count(*) FROM posts WHERE site_id = 1")
    deep=$(( n > 21 ? n - 21 : 0 ))
    k=$(psql -Atq "$target" -c "SELECT created_at FROM posts WHERE site_id = 1 ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET $deep")
    i=$(psql -Atq "$target" -c "SELECT id FROM posts WHERE site_id = 1 ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET $deep")
    psql -q "$target" -c "ANALYZE posts" >/dev/null
    for q in \
      "first page, -created_at|SELECT $cols FROM posts WHERE posts.site_id = 1 ORDER BY posts.created_at DESC, posts.id DESC LIMIT 21" \
      "last page (depth $((deep + 1))), -created_at|SELECT $cols FROM posts WHERE posts.site_id = 1 AND posts.created_at <= '$k' AND (posts.created_at < '$k' OR posts.created_at = '$k' AND posts.id < $i) ORDER BY posts.created_at DESC, posts.id DESC LIMIT 21"; do
      echo "-- ${q%%|*}"
      psql -Atq "$target" -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) ${q#*|}" | sed 's/^/    /'
    done
    ;;
esac
