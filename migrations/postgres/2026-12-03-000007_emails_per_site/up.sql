-- An email is unique within its site, not across the deployment (one person may belong to
-- several sites; and a user of one site must not learn, from a 409, which emails another site
-- has). Keep in step with ../../sqlite/2026-12-03-000007_emails_per_site.
ALTER TABLE users DROP CONSTRAINT users_email_key;
ALTER TABLE users ADD CONSTRAINT users_site_email_key UNIQUE (site_id, email);
-- Login by email alone looks in every site.
CREATE INDEX users_email ON users (email);
