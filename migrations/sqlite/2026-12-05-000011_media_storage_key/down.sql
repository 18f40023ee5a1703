DROP INDEX media_storage_key;
