-- Nothing to do on SQLite: slugs already compare bytewise (see the PostgreSQL migration).
SELECT 1;
