//! Integration tests: the real broker, over mTLS, on SQLite and PostgreSQL,
//! with the local object directory and a real S3 server. Run with
//! `scripts/test`, which starts PostgreSQL and the S3 server.

mod common;
mod consent;

mod cases;
mod cli;
mod contract;
mod directory;
mod documents;
mod dossier;
mod evidence;
mod identity;
mod jose_interop;
mod notices;
mod operations;
mod policy_table;
mod storage;
mod workflow;
