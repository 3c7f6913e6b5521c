//! webcare: finds public mentions of a brand, flags complaints, questions and praise, and tells
//! the right people.
//!
//! Data flows one way: [`sources`] poll platforms, [`watch`] keeps what a watch's [`query`]
//! matches, [`store`] commits it with the source's cursor, [`classify`] labels it, and
//! [`scheduler`] decides when each source polls again. [`commands`] holds what each CLI
//! subcommand does (one file per group), and [`admin`] serves health and [`metrics`] while the
//! daemon runs.

pub mod admin;
pub mod alloc;
pub mod classify;
pub mod cli;
pub mod commands;
pub mod config;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod parallel;
pub mod privacy;
pub mod progress;
pub mod query;
pub mod redact;
pub mod scheduler;
pub mod secret;
pub mod shutdown;
pub mod sources;
pub mod store;
pub mod supervisor;
pub mod text;
pub mod watch;
pub mod web;
