//! The log collector process (see `drover_client::logmon`). Being written (issue D).
fn main() {}
