-- Delivery (sites and plans, pull keys, public media URLs). Keep in step with
-- ../../postgres/2026-12-04-000008_delivery.

-- Plans are starter, pro, agency and unlimited; sites made before plans existed had
-- unlimited access in practice.
UPDATE sites SET plan = 'unlimited' WHERE plan NOT IN ('starter', 'pro', 'agency', 'unlimited');

-- Bumped in the transaction of every write to the site's posts or media: the pull cache
-- and list ETags of every instance compare it with one indexed read.
ALTER TABLE sites ADD COLUMN content_version BIGINT NOT NULL DEFAULT 0;

-- Origins a site's own front ends call the pull API from (on top of JEKCMS_CORS_ORIGINS).
-- A table rather than a JSON column so that a preflight, which carries no key, can ask
-- "does any site list this origin" through an index.
CREATE TABLE site_cors_origins (
    site_id BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    origin  TEXT NOT NULL,
    PRIMARY KEY (site_id, origin)
);
CREATE INDEX site_cors_origins_origin ON site_cors_origins (origin);

-- Pull keys (`pk_…`): only a SHA-256 of the key is kept. The webhook secret that is issued
-- with it must be usable for signing, so it is kept sealed with the deployment secret.
-- The active key has no `valid_until`; a rotated-out key keeps working until its
-- `valid_until` (the rotation's overlap).
CREATE TABLE pull_keys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id        BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    key_hash       BLOB NOT NULL UNIQUE,
    webhook_secret BLOB NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    valid_until    TIMESTAMP
);
CREATE INDEX pull_keys_site ON pull_keys (site_id, id);

-- The capability token of a medium's public URL /m/{token}/{filename}: 128 random bits,
-- fixed for the medium's life.
ALTER TABLE media ADD COLUMN public_token TEXT;
UPDATE media SET public_token = lower(hex(randomblob(16))) WHERE public_token IS NULL;
CREATE UNIQUE INDEX media_public_token ON media (public_token);

-- The pull API's list: visible posts of a site, newest first, and the next scheduled one.
CREATE INDEX posts_site_status_published ON posts (site_id, status, published_at, id);
