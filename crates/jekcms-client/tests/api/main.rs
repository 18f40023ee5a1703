//! The client against the real server, started in-process on SQLite.

mod activity;
mod auth;
mod errors;
mod fake;
mod media;
mod posts;
mod pull;
mod retries;
mod support;
