//! `PUT /v1/system/gc`: a forced garbage collection (Nomad
//! command/agent/system_endpoint.go `GarbageCollectRequest`, which runs
//! nomad/core_sched.go `forceGC`). The selection is [`crate::gc::select`];
//! this handler only writes it. Nomad answers 200 with an empty body.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use drover_state::Command;

use super::error::HttpResult;
use super::job_writes::{now, write_error};
use super::App;
use crate::gc;

pub async fn gc(State(app): State<App>) -> HttpResult<Response> {
    let collect = gc::select(&app.raft.shared.read().state);
    for cmd in collect.commands(now()) {
        let what = cmd_name(&cmd);
        let out = app.raft.write(cmd).await.map_err(write_error)?;
        // Something else may have removed a job or node since the state was
        // read (another GC, a purge); what is already gone needs no collecting.
        if let Err(e) = out.result {
            tracing::debug!(command = what, error = %e, "gc command skipped");
        }
    }
    Ok(StatusCode::OK.into_response())
}

fn cmd_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::EvalDelete(_) => "EvalDelete",
        Command::JobDeregister(_) => "JobDeregister",
        Command::DeploymentDelete(_) => "DeploymentDelete",
        Command::NodeDeregister(_) => "NodeDeregister",
        _ => "other",
    }
}
