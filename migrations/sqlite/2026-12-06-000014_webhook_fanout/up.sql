-- A write's events wait here for the delivery worker, which fans them out into one
-- webhook_deliveries row per subscribed endpoint: one small row per write (only to a site
-- with an enabled webhook) instead of a delivery row per event and endpoint, written in
-- the write's transaction. The worker deletes the rows in the transaction that inserts
-- their deliveries (SQLite's single writer), so each is fanned out once.
CREATE TABLE webhook_fanout (
    id         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id    BIGINT NOT NULL,
    -- The write's event ids, a JSON array.
    event_ids  TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
