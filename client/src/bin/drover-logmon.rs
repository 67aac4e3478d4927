//! The log collector process: copies its stdin into a task's rotating log
//! files until EOF (see `drover_client::logmon` for the process model).

fn main() {
    if let Err(e) = drover_client::logmon::run(std::env::args().skip(1)) {
        eprintln!("drover-logmon: {e}");
        std::process::exit(1);
    }
}
