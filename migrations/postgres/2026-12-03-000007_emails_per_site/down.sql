-- Back to one email per deployment (fails if two sites share an email).
DROP INDEX users_email;
ALTER TABLE users DROP CONSTRAINT users_site_email_key;
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
