-- Core schema, SQLite flavour. Keep in step with ../../postgres/2026-11-23-000001_core.
-- AUTOINCREMENT: ids are never reused, so an ETag or cursor never points at a newer row.
-- Timestamps are UTC, written by the app with microsecond precision.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE sites (
    id         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    plan       TEXT NOT NULL DEFAULT 'free',
    api_access BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id       BIGINT NOT NULL REFERENCES sites (id),
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX users_site ON users (site_id, id);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id      BIGINT NOT NULL REFERENCES sites (id),
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    public_id    TEXT NOT NULL UNIQUE,
    family       TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,
    name         TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    expires_at   TIMESTAMP,
    revoked_at   TIMESTAMP
);
CREATE INDEX api_keys_site ON api_keys (site_id, id);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id    BIGINT NOT NULL REFERENCES sites (id),
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    api_key_id BIGINT REFERENCES api_keys (id) ON DELETE CASCADE,
    family     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_key ON sessions (api_key_id);

CREATE TABLE refresh_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    session_id  BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE posts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id      BIGINT NOT NULL REFERENCES sites (id),
    author_id    BIGINT NOT NULL REFERENCES users (id),
    title        TEXT NOT NULL,
    title_key    TEXT NOT NULL,
    slug         TEXT NOT NULL,
    excerpt      TEXT,
    body         TEXT,
    status       TEXT NOT NULL,
    tags         TEXT NOT NULL,
    published_at TIMESTAMP,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    version      BIGINT NOT NULL,
    UNIQUE (site_id, slug)
);
-- One index per sort: every page is a range scan of (site_id, key, id).
CREATE INDEX posts_site_created ON posts (site_id, created_at, id);
CREATE INDEX posts_site_updated ON posts (site_id, updated_at, id);
CREATE INDEX posts_site_published ON posts (site_id, published_at, id);
CREATE INDEX posts_site_title ON posts (site_id, title_key, id);
-- The commonest filters under the default sort.
CREATE INDEX posts_site_status_created ON posts (site_id, status, created_at, id);
CREATE INDEX posts_site_author_created ON posts (site_id, author_id, created_at, id);

CREATE TABLE post_tags (
    post_id BIGINT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    site_id BIGINT NOT NULL,
    tag     TEXT NOT NULL,
    PRIMARY KEY (post_id, tag)
);
CREATE INDEX post_tags_site_tag ON post_tags (site_id, tag, post_id);

CREATE TABLE media (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id     BIGINT NOT NULL REFERENCES sites (id),
    author_id   BIGINT NOT NULL REFERENCES users (id),
    filename    TEXT NOT NULL,
    mime_type   TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    width       INTEGER,
    height      INTEGER,
    alt_text    TEXT,
    storage_key TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX media_site_created ON media (site_id, created_at, id);
