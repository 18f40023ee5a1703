-- An mcp_ token is both the id and the secret: /mcp finds its key by the token's hash.
CREATE INDEX api_keys_secret_hash ON api_keys (secret_hash);
