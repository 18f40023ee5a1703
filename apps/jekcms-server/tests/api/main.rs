#![allow(unreachable_pub, missing_docs)]
//! Integration tests through the real HTTP app. Every test runs on SQLite and, when
//! `JEKCMS_TEST_POSTGRES_URL` is set, on PostgreSQL, with the same test body.

mod helpers;

mod accounts;
mod activity;
mod auth;
mod backup;
mod bulk;
mod caching;
mod cli;
mod cors;
mod errors;
mod faults;
mod idempotency;
mod input;
mod lists;
mod matrix;
mod mcp;
mod media;
mod media_store;
mod metrics;
mod posts;
mod pull;
mod ratelimit;
mod routes;
mod s3;
mod secret_key;
mod sites;
mod v1;
mod webhooks;
