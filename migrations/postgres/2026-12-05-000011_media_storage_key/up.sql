-- The orphan sweeper asks which listed objects a medium's record names, by storage key.
CREATE INDEX media_storage_key ON media (storage_key);
