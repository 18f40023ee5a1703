-- Slugs compare bytewise (COLLATE "C"), as on SQLite: they are ASCII [a-z0-9-], so nothing
-- changes for equality, and the range `base-` <= slug < `base.` that numbers a taken slug's
-- suffixes becomes exact and served by the (site_id, slug) unique index instead of a scan
-- of the whole site (LIKE cannot use a btree index under a linguistic collation).
-- SQLite needs no change (its default collation is already binary); its folder holds the
-- same-named no-op so both stores list the same migrations.
ALTER TABLE posts ALTER COLUMN slug TYPE TEXT COLLATE "C";
