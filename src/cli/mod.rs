//! The user-facing commands that talk to an agent over HTTP (Nomad's CLI):
//! `drover alloc ...`. Stub until the CLI lands.

pub mod alloc;
