-- Leases for Idempotency-Key claims (issue #22), SQLite flavour. Keep in step with
-- ../../postgres/2026-12-01-000022_idempotency_lease.
-- `lease_until`: until when a claim without a response belongs to the request that made it;
-- after it a retry takes the claim over (NULL, a claim made before this migration: over).
-- `attempt`: counts take-overs; only the attempt holding the claim may store its response.
ALTER TABLE idempotency_keys ADD COLUMN lease_until TIMESTAMP;
ALTER TABLE idempotency_keys ADD COLUMN attempt BIGINT NOT NULL DEFAULT 1;
