//! `drover agent`: its flags and its configuration, read as `nomad agent`
//! reads them, so a Nomad agent config file and command line work unchanged
//! for the options Drover implements, and name the ones it ignores.
//!
//! - `flags.rs`: `AgentArgs` (clap), the Go-style `-flag` rewrite.
//! - `config.rs`: `AgentConfig`, defaults, dev mode, merge, validation.
//! - `parse.rs`: one HCL or JSON config file into a `ConfigLayer`.
//! - `load.rs`: files and directories in order, then flags, then checks.
//! - `advertise.rs`: the address other servers reach this one at.
//! - `client_api.rs`: the agent endpoints of a client-only agent.
//! - `tls.rs`: the `tls` block: parse, merge, load with rustls.
//! - `client_acl.rs`: a client-only agent's ACL check, asked of its servers.
//! - `parse/acl.rs`: the `acl` block.
//!
//! Invariant: nothing here panics on user input; every error is one line
//! naming the flag, or the file and the dotted key.

pub mod advertise;
pub mod client_acl;
pub mod client_api;
pub mod config;
pub mod flags;
pub mod load;
pub mod parse;
pub mod tls;

// Only what main.rs names: in a binary crate an unused re-export is a
// warning, and CI denies warnings. Reach the rest as `agent::config::..`.
pub use flags::{normalize_go_flag, AgentArgs};
pub use load::load;

#[cfg(test)]
mod tests;
