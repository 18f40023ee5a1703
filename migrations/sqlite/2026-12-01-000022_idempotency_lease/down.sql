ALTER TABLE idempotency_keys DROP COLUMN attempt;
ALTER TABLE idempotency_keys DROP COLUMN lease_until;
