ALTER TABLE posts DROP COLUMN body_json;
