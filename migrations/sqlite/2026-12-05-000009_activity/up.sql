-- The activity log and webhooks. Keep in step with ../../postgres/2026-12-05-000009_activity.

-- One row per event of a write (post.created, media.deleted, site.keys_rotated, ...),
-- inserted in the write's own transaction: a committed write always has its events and a
-- rolled-back one never does. `GET /api/v2/activity` reads it; webhook deliveries are made
-- from it. No foreign key to users: the log outlives a deleted user. No foreign key to
-- sites either, here or in webhook_deliveries: these rows are written by every write, many
-- at a time in a bulk import, and a per-row check of a parent that is never deleted costs
-- more than it guards.
CREATE TABLE events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id       BIGINT NOT NULL,
    type          TEXT NOT NULL,
    actor_user_id BIGINT,
    actor_family  TEXT NOT NULL,
    actor_key_id  TEXT,
    subject_kind  TEXT NOT NULL,
    subject_id    BIGINT NOT NULL,
    request_id    TEXT,
    occurred_at   TIMESTAMP NOT NULL
);
-- The activity list (newest first, per site) and the retention job.
CREATE INDEX events_site ON events (site_id, id);
CREATE INDEX events_occurred ON events (occurred_at);

-- A site's webhook endpoints. `events` is `*` or a comma-separated list of event types.
CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id    BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,
    enabled    BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhooks_site ON webhooks (site_id, id);

-- One row per (event, endpoint), inserted with the event in the write's transaction, so
-- that a delivery is never lost between a commit and a crash. `event_id` is null for a
-- `ping`. `payload` is the body fixed at the first attempt, so that retries and
-- redeliveries send the same message. A worker claims a due row by moving its
-- `next_attempt_at` forward by a lease; a worker that dies leaves it due again then.
-- `event_id` has no foreign key (the retention job deletes a delivery with its event);
-- deleting a webhook deletes its deliveries.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id          BIGINT NOT NULL,
    webhook_id       BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         BIGINT,
    type             TEXT NOT NULL,
    payload          TEXT,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_error       TEXT,
    last_response    TEXT,
    next_attempt_at  TIMESTAMP NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- Whether the post's becoming visible (published, `published_at` reached) has been
-- announced with a `post.published` event. A post scheduled for later is announced by the
-- scheduler when its time comes; claiming the row by flipping this flag makes that happen
-- once across instances.
ALTER TABLE posts ADD COLUMN publish_announced BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE posts SET publish_announced = TRUE
    WHERE status = 'published' AND published_at <= strftime('%Y-%m-%d %H:%M:%f', 'now');
CREATE INDEX posts_unannounced ON posts (published_at)
    WHERE status = 'published' AND NOT publish_announced;
