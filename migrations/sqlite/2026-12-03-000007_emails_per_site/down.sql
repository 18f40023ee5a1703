-- Back to one email per deployment (fails if two sites share an email).
PRAGMA foreign_keys = OFF;
BEGIN;
DROP TABLE IF EXISTS users_new;
CREATE TABLE users_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id       BIGINT NOT NULL REFERENCES sites (id),
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
INSERT INTO users_new (id, site_id, email, name, role, password_hash, created_at, updated_at)
    SELECT id, site_id, email, name, role, password_hash, created_at, updated_at FROM users;
DELETE FROM sqlite_sequence WHERE name = 'users_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'users_new', seq FROM sqlite_sequence WHERE name = 'users';
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_site ON users (site_id, id);
COMMIT;
PRAGMA foreign_keys = ON;
