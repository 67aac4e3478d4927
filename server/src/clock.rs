//! The server's one wall-clock read. Handlers and leader duties stamp
//! commands with it; nothing below `State::apply` reads a clock.

/// Unix nanoseconds now (0 before 1970, saturating far in the future).
pub fn unix_nanos() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
