-- Each post's body also as the JSON string literal that responses carry, written with the
-- body in the write's transaction. A page of 20 posts holds ~30 KB of bodies, and escaping
-- them on every read was the largest single cost of a list request; a read now copies the
-- literal instead. `body` stays the text of record. Rows written before this migration get
-- their literal from PostgreSQL's `to_json`, which may spell an escape differently from the
-- server but always means the same text.
ALTER TABLE posts ADD COLUMN body_json TEXT;
UPDATE posts SET body_json = to_json(body)::text WHERE body IS NOT NULL;
