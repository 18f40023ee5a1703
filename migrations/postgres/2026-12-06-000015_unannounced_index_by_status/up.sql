-- The scheduler's index keyed by status first. Since 000013 its predicate is
-- `NOT publish_announced` alone, which also holds for every draft and archived post (their
-- visibility was never announced): the scheduler's query, run every second, walked every
-- archived post with a past date before finding none due — measured on 100,000 seeded posts
-- (10,000 archived), ~16 M instructions each second on SQLite, inside the write lock. With
-- `status` leading the key, the query seeks straight to `status = 'published'`. The
-- predicate stays without a status, so that lists filtered by a bound status are not
-- prepared again at every execution (see 000013).
DROP INDEX posts_unannounced;
CREATE INDEX posts_unannounced ON posts (status, published_at) WHERE NOT publish_announced;
