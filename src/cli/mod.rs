//! The user-facing commands that talk to an agent over HTTP (Nomad's CLI):
//! `drover acl|alloc|deployment|eval|event|job|namespace|node|operator|server|status|system|tls|ui ...`.
//! Glue only: the agent does the work, these files turn words into
//! requests and answers into text and exit codes. `drover tls` (`tls.rs`)
//! talks to no agent: it makes a CA and certificates for the `tls` block.
//!
//! Shared pieces: `flags` (Go-style flags), `api` (which agent, prefix
//! lookups), `tls_client` (the CLI's TLS flags and transport), `command`
//! (the frame a command runs in), `output` (Nomad's tables, KV blocks, `-json`/`-t`, times, colour), `template` (Go
//! templates for `-t`), `views` (tables several commands print), `usage`
//! and `tree` (help texts and the command tree, which `completion` and the
//! website's CLI reference are generated from).

pub mod acl;
pub mod alloc;
mod alloc_status;
mod api;
pub mod command;
pub mod completion;
pub mod deployment;
pub mod eval;
mod flags;
mod help;
pub mod job;
mod job_diff;
mod job_help;
mod job_misc;
mod job_monitor;
mod job_run;
mod job_status;
mod logs;
pub mod misc;
mod monitor;
pub mod namespace;
pub mod node;
pub mod operator;
pub mod output;
pub mod server;
mod session;
mod template;
mod term;
pub mod tls;
mod tls_client;
pub mod tree;
mod usage;
mod views;
