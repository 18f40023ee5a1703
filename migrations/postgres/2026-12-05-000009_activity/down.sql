DROP INDEX posts_unannounced;
ALTER TABLE posts DROP COLUMN publish_announced;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE events;
