//! jekcms-cli's export and import against the real server, started in-process on SQLite.

mod binary;
mod export;
mod import;
mod media;
mod support;
mod wxr;
