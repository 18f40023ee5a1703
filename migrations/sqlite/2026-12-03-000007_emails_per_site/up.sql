-- An email is unique within its site, not across the deployment (one person may belong to
-- several sites; and a user of one site must not learn, from a 409, which emails another site
-- has). Keep in step with ../../postgres/2026-12-03-000007_emails_per_site.
--
-- SQLite cannot drop a column's UNIQUE constraint, so `users` is rebuilt as its documentation
-- describes ("Making Other Kinds Of Table Schema Changes"): with foreign keys off, or dropping
-- the old table would cascade to every key and session. Ids are kept, and so is the
-- AUTOINCREMENT counter, so an id is never reused.
PRAGMA foreign_keys = OFF;
BEGIN;
DROP TABLE IF EXISTS users_new;
CREATE TABLE users_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    site_id       BIGINT NOT NULL REFERENCES sites (id),
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    UNIQUE (site_id, email)
);
INSERT INTO users_new (id, site_id, email, name, role, password_hash, created_at, updated_at)
    SELECT id, site_id, email, name, role, password_hash, created_at, updated_at FROM users;
DELETE FROM sqlite_sequence WHERE name = 'users_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'users_new', seq FROM sqlite_sequence WHERE name = 'users';
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_site ON users (site_id, id);
-- Login by email alone looks in every site.
CREATE INDEX users_email ON users (email);
COMMIT;
PRAGMA foreign_keys = ON;
