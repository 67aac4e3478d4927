//! The container log copier process (`drover docker-logger`). Stub until
//! the docker driver lands.

/// Runs the logger with its command-line arguments.
pub fn run<I: IntoIterator<Item = String>>(args: I) -> Result<(), String> {
    let _ = args.into_iter().count();
    Err("docker-logger is not built yet".into())
}
