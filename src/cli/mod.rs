//! The user-facing commands that talk to an agent over HTTP (Nomad's CLI):
//! `drover alloc ...`, `drover server join|members`, `drover operator ...`. Glue only: the agent does the work, these files turn
//! words into requests and answers into text and exit codes.

pub mod alloc;
mod api;
mod flags;
mod help;
mod logs;
mod monitor;
pub mod operator;
pub mod output;
pub mod server;
mod session;
mod template;
mod term;
