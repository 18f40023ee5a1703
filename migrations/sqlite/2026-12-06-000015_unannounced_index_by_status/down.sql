DROP INDEX posts_unannounced;
CREATE INDEX posts_unannounced ON posts (published_at) WHERE NOT publish_announced;
