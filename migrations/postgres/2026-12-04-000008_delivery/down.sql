DROP INDEX posts_site_status_published;
DROP INDEX media_public_token;
ALTER TABLE media DROP COLUMN public_token;
DROP TABLE pull_keys;
DROP TABLE site_cors_origins;
ALTER TABLE sites DROP COLUMN content_version;
ALTER TABLE sites ALTER COLUMN plan SET DEFAULT 'free';
