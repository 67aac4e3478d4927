//! The user-facing commands that talk to an agent over HTTP (Nomad's CLI):
//! `drover alloc ...`, `drover job ...`, `drover server join|members`,
//! `drover operator ...`. Glue only: the agent does the work, these files turn
//! words into requests and answers into text and exit codes.

pub mod alloc;
mod api;
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
mod monitor;
pub mod operator;
pub mod server;
mod session;
mod term;
