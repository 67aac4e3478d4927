//! Being written (issue D).
