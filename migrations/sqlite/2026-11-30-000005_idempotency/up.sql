-- Idempotency-Key records (issue #5), SQLite flavour. Keep in step with
-- ../../postgres/2026-11-30-000005_idempotency.
-- One row per (site, user, key): the unique index is the claim that only one request can win.
-- `status` and `response` stay NULL while the first request is still running.
CREATE TABLE idempotency_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id     BIGINT NOT NULL REFERENCES sites (id),
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idem_key    TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    status      INTEGER,
    response    TEXT,
    created_at  TIMESTAMP NOT NULL,
    UNIQUE (site_id, user_id, idem_key)
);
-- Expired rows (older than 24 hours) are deleted lazily, by a range scan of this index.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
