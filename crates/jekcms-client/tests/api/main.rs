//! The client against the real server, started in-process on SQLite.

mod auth;
mod errors;
mod posts;
mod support;
