//! Scheduler throughput (issue C). Being written.
fn main() {}
