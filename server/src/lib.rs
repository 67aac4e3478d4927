//! drover-server: Raft and sled storage, leader duties and the /v1 HTTP API.
//!
//! Architecture Invariant: state changes only through `drover_state::Command`s
//! written to the Raft log; handlers stamp IDs and times, `State::apply`
//! applies. This crate owns I/O (sled, files, sockets); `drover-state` does none.

pub mod acl;
pub mod agent;
pub mod blocked;
pub mod clock;
pub mod cluster;
pub mod deployment_watch;
pub mod evals;
pub mod gc;
pub mod gc_timer;
pub mod heartbeat;
pub mod http;
pub mod jobs;
pub mod jobspec;
pub mod leader;
pub mod periodic;
pub mod periodic_cron;
pub mod periodic_dispatch;
pub mod raft;
pub mod revert;
pub mod tls;
