-- The retention job prunes events oldest id first (ids follow time), so occurred_at needs
-- no index of its own: one index fewer for every event a write records.
DROP INDEX events_occurred;
