ALTER TABLE posts RESET (toast_tuple_target);
ALTER TABLE posts DROP COLUMN body_json;
