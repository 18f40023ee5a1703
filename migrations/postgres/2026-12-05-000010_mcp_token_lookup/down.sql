DROP INDEX api_keys_secret_hash;
