//! The container log copier process (see
//! `drover_client::driver::docker::logger` for the process model).

fn main() {
    if let Err(e) = drover_client::driver::docker::logger::run(std::env::args().skip(1)) {
        eprintln!("drover-docker-logger: {e}");
        std::process::exit(1);
    }
}
