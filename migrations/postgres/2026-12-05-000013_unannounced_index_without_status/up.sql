-- The scheduler's index without `status = 'published'` in its predicate. SQLite decides
-- whether a query may use a partial index by comparing the query's terms with the index's;
-- a query's bound `status = ?` against the literal made it read the bound value and mark
-- the statement to be prepared again at every execution: every post list with a status
-- (each pull page) was parsed and planned anew. `NOT publish_announced` alone is no such
-- comparison, and the scheduler's query (`status = 'published' AND NOT publish_announced
-- AND published_at <= ?`) still uses the index. The same on PostgreSQL, to keep the
-- stores' schemas in step.
DROP INDEX posts_unannounced;
CREATE INDEX posts_unannounced ON posts (published_at) WHERE NOT publish_announced;
