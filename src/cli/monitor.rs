//! Watching an evaluation to its end, as `nomad alloc stop` does without
//! `-detach` (a small version of Nomad's monitor: status changes only).

use std::process::ExitCode;
use std::time::Duration;

use super::api::{short, Api};

/// Prints the evaluation's progress until it leaves `pending`; exit status
/// 0 when it completes, 2 when it fails (Nomad's monitor convention).
pub async fn eval(api: &Api, id: &str) -> anyhow::Result<ExitCode> {
    println!("==> Monitoring evaluation {:?}", short(id));
    let mut last = String::new();
    loop {
        let e = api.get(&format!("/v1/evaluation/{id}")).await?;
        let status = e["Status"].as_str().unwrap_or_default().to_string();
        if last.is_empty() {
            if let Some(by) = e["TriggeredBy"].as_str() {
                println!("    Evaluation triggered by {by:?}");
            }
        } else if status != last {
            println!("    Evaluation status changed: {last:?} -> {status:?}");
        }
        if !status.is_empty() && status != "pending" {
            println!(
                "==> Evaluation {:?} finished with status {status:?}",
                short(id)
            );
            return Ok(if status == "complete" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            });
        }
        last = status;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}
