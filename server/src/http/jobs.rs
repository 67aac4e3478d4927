//! `/v1/jobs` and `/v1/job/...` (Nomad command/agent/job_endpoint.go).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use drover_api::{AllocListStub, Evaluation, Job, JobListStub, JobVersionsResponse, WriteMeta};
use drover_state::pagination::{SortKey, TokenKind};
use drover_state::{Table, WatchKey};

use super::blocking::{blocking, json, read_one};
use super::error::{HttpError, HttpResult};
use super::list::{page, start_key};
use super::query::{QueryOptions, RawQuery};
use super::App;
use super::{job_lifecycle, job_writes};

/// `PUT /v1/jobs`: register a job.
pub async fn register(
    State(app): State<App>,
    AxumQuery(raw): AxumQuery,
    body: Bytes,
) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    job_writes::register(&app, &q, None, &body).await
}

/// `PUT /v1/validate/job`.
pub async fn validate(State(app): State<App>, body: Bytes) -> HttpResult<Response> {
    job_writes::validate(&app, &body).await
}

/// `PUT /v1/jobs/parse`.
pub async fn parse(State(app): State<App>, body: Bytes) -> HttpResult<Response> {
    job_writes::parse(&app, &body).await
}

/// `GET /v1/jobs`: stubs with their summaries, paged by `namespace.id`.
pub async fn list(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let opts = QueryOptions::from_raw(&q)?;
    let with_meta = q.flag("meta")?;
    let start = start_key(&opts, TokenKind::NamespaceId)?;
    let ((stubs, next), mut meta) = blocking(&app, &opts, |st, ws| {
        let it = st.jobs(
            ws,
            opts.namespace.sel(),
            &opts.prefix,
            start.as_ref(),
            opts.page.reverse,
        );
        job_stubs(st, ws, it, &opts, with_meta)
    })
    .await?;
    meta.next_token = next;
    Ok(json(&stubs, &meta))
}

/// A page of job stubs and the token of the next page.
type StubPage = (Vec<JobListStub>, Option<String>);

/// One page of `jobs` as list stubs with their summaries, and the index to
/// report: the jobs' or the summaries', whichever is later. The list also
/// wakes when a summary changes, since stubs embed them. Shared by
/// `/v1/jobs` and `/v1/node/pool/:name/jobs`.
pub(super) fn job_stubs<'a>(
    st: &'a drover_state::State,
    ws: &mut drover_state::WatchSet,
    jobs: impl Iterator<Item = &'a Job>,
    opts: &QueryOptions,
    with_meta: bool,
) -> HttpResult<(StubPage, u64)> {
    let listed = page(
        jobs,
        TokenKind::NamespaceId,
        opts,
        |j: &Job| SortKey::NamespaceId(j.namespace.clone(), j.id.clone()),
        |j| j,
    )?;
    ws.add(WatchKey::Table(Table::JobSummary));
    let stubs: Vec<JobListStub> = listed
        .items
        .iter()
        .map(|j| {
            let summary = st.job_summary(&mut drover_state::WatchSet::new(), &j.namespace, &j.id);
            JobListStub::from_job(j, summary, with_meta)
        })
        .collect();
    let index = st
        .table_index(Table::Jobs)
        .max(st.table_index(Table::JobSummary));
    Ok(((stubs, listed.next_token), index))
}

/// The sub-resources of a job, matched by suffix because job IDs may contain
/// `/` (periodic children are `parent/periodic-<time>`).
const SUFFIXES: &[&str] = &[
    "allocations",
    "evaluations",
    "summary",
    "versions",
    "evaluate",
    "plan",
    "deployments",
    "deployment",
    "revert",
    "stable",
    "scale",
    "submission",
    "dispatch",
    "periodic/force",
];

fn split_job_path(rest: &str) -> (&str, Option<&str>) {
    for s in SUFFIXES {
        if let Some(id) = rest.strip_suffix(s).and_then(|r| r.strip_suffix('/')) {
            if !id.is_empty() {
                return (id, Some(s));
            }
        }
    }
    (rest, None)
}

fn method_not_allowed() -> HttpError {
    HttpError::new(StatusCode::METHOD_NOT_ALLOWED, "Invalid method")
}

/// `/v1/job/{id}[/suffix]`.
pub async fn dispatch(
    State(app): State<App>,
    method: Method,
    Path(rest): Path<String>,
    AxumQuery(raw): AxumQuery,
    body: Bytes,
) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let (id, suffix) = split_job_path(&rest);
    if id.is_empty() {
        return Err(HttpError::bad_request("Missing job ID"));
    }
    // Each branch is boxed: a parked GET then holds only its own future, not
    // one sized for the largest branch (a register holds whole jobs across
    // awaits), which matters with 10,000 blocking queries parked.
    match (suffix, method) {
        (None, Method::GET) => Box::pin(get_job(&app, &q, id)).await,
        (None, Method::PUT | Method::POST) => {
            Box::pin(job_writes::register(&app, &q, Some(id), &body)).await
        }
        (None, Method::DELETE) => Box::pin(job_writes::deregister(&app, &q, id)).await,
        (Some("allocations"), Method::GET) => Box::pin(allocations(&app, &q, id)).await,
        (Some("evaluations"), Method::GET) => Box::pin(evaluations(&app, &q, id)).await,
        (Some("summary"), Method::GET) => Box::pin(summary(&app, &q, id)).await,
        (Some("versions"), Method::GET) => Box::pin(versions(&app, &q, id)).await,
        (Some("deployments"), Method::GET) => {
            Box::pin(super::deployments::of_job(&app, &q, id)).await
        }
        (Some("deployment"), Method::GET) => {
            Box::pin(super::deployments::latest_of_job(&app, &q, id)).await
        }
        (Some("evaluate"), Method::PUT | Method::POST) => {
            Box::pin(super::node_writes::evaluate(&app, &q, id)).await
        }
        (Some("dispatch"), Method::PUT | Method::POST) => {
            Box::pin(super::job_dispatch::dispatch(&app, &q, id, &body)).await
        }
        (Some("periodic/force"), Method::PUT | Method::POST) => {
            Box::pin(super::job_dispatch::periodic_force(&app, &q, id)).await
        }
        (Some("plan"), Method::PUT | Method::POST) => {
            Box::pin(super::job_plan::plan(&app, &q, id, &body)).await
        }
        (Some("revert"), Method::PUT | Method::POST) => {
            Box::pin(job_lifecycle::revert(&app, &q, id, &body)).await
        }
        (Some("stable"), Method::PUT | Method::POST) => {
            Box::pin(job_lifecycle::stable(&app, &q, id, &body)).await
        }
        (Some("scale"), Method::GET) => Box::pin(job_lifecycle::scale_status(&app, &q, id)).await,
        (Some("scale"), Method::PUT | Method::POST) => {
            Box::pin(job_lifecycle::scale(&app, &q, id, &body)).await
        }
        (Some("submission"), Method::GET) => {
            Box::pin(job_lifecycle::submission(&app, &q, id)).await
        }
        _ => Err(method_not_allowed()),
    }
}

async fn get_job(app: &App, q: &RawQuery, id: &str) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(q)?;
    let ns = opts.namespace.one().to_string();
    read_one(app, &opts, "job not found", |st, ws| {
        let job = st
            .job(ws, &ns, id)
            .cloned()
            .map(crate::periodic::decode_payload);
        (job, st.index_of_set(ws))
    })
    .await
}

async fn allocations(app: &App, q: &RawQuery, id: &str) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(q)?;
    let all = q.flag("all")?;
    let ns = opts.namespace.one().to_string();
    let (stubs, meta) = blocking(app, &opts, |st, ws| {
        let current = st
            .job(&mut drover_state::WatchSet::new(), &ns, id)
            .map(|j| (j.create_index, j.version));
        let stubs: Vec<AllocListStub> = st
            .allocs_by_job(ws, &ns, id)
            // Without ?all, only allocations of the live job (not a purged
            // earlier incarnation), as Nomad filters by CreateIndex.
            .filter(|r| all || current.is_some_and(|(ci, _)| r.job_create_index == ci))
            .map(|r| {
                let mut stub = r.alloc.stub(false, true);
                stub.job_version = r.job_version;
                if let Some(job) = st.alloc_job(r) {
                    stub.job_type = job.job_type;
                }
                stub
            })
            .collect();
        Ok((stubs, st.index_of_set(ws)))
    })
    .await?;
    Ok(json(&stubs, &meta))
}

async fn evaluations(app: &App, q: &RawQuery, id: &str) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(q)?;
    let ns = opts.namespace.one().to_string();
    let (evals, meta) = blocking(app, &opts, |st, ws| {
        let evals: Vec<Evaluation> = st.evals_by_job(ws, &ns, id).cloned().collect();
        Ok((evals, st.index_of_set(ws)))
    })
    .await?;
    Ok(json(&evals, &meta))
}

async fn summary(app: &App, q: &RawQuery, id: &str) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(q)?;
    let ns = opts.namespace.one().to_string();
    read_one(app, &opts, "job not found", |st, ws| {
        let s = st.job_summary(ws, &ns, id).cloned();
        (s, st.index_of_set(ws))
    })
    .await
}

/// `GET /v1/job/{id}/versions`; with `diffs=true`, `Diffs` holds Nomad's
/// job diffs (the plan's `Diff`, `jobs::diff`): each version against the
/// one before it, or against version `diff_version` (command/agent/
/// job_endpoint.go `jobVersions`, nomad/job_endpoint.go
/// `GetJobVersions`). Drover has no version tags, so any `diff_tag` is
/// not found.
async fn versions(app: &App, q: &RawQuery, id: &str) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(q)?;
    let ns = opts.namespace.one().to_string();
    let diffs = q.flag("diffs")?;
    let diff_version = q.u64("diff_version")?;
    let diff_tag = q.get("diff_tag").filter(|t| !t.is_empty());
    let (versions, meta) = blocking(app, &opts, |st, ws| {
        let v: Vec<Job> = st
            .job_versions(ws, &ns, id)
            .iter()
            .map(|j| Job::clone(j))
            .collect();
        Ok((v, st.index_of_set(ws)))
    })
    .await?;
    if versions.is_empty() {
        return Err(HttpError::not_found("job versions not found"));
    }
    let diffs = if diffs {
        if let Some(tag) = diff_tag {
            return Err(HttpError::bad_request(format!(
                "diff_tag: tag {tag:?} not found"
            )));
        }
        let against = match diff_version {
            None => None,
            Some(v) => Some(versions.iter().find(|j| j.version == v).ok_or_else(|| {
                HttpError::bad_request(format!("diff_version: version {v} not found"))
            })?),
        };
        let list = crate::jobs::diff::version_diffs(&versions, against);
        let list = list
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| HttpError::internal(format!("encoding a job diff: {e}")))?;
        // Nomad's nil slice: `null` when there is nothing to compare.
        (!list.is_empty()).then_some(list)
    } else {
        None
    };
    let body = JobVersionsResponse {
        versions,
        diffs,
        meta: WriteMeta { index: meta.index },
    };
    Ok(json(&body, &meta))
}

#[cfg(test)]
mod tests {
    use super::split_job_path;

    #[test]
    fn job_paths_split_by_suffix_like_nomad() {
        assert_eq!(split_job_path("web"), ("web", None));
        assert_eq!(
            split_job_path("web/allocations"),
            ("web", Some("allocations"))
        );
        assert_eq!(
            split_job_path("cron/periodic-17/summary"),
            ("cron/periodic-17", Some("summary"))
        );
        assert_eq!(
            split_job_path("cron/periodic-17"),
            ("cron/periodic-17", None)
        );
        assert_eq!(
            split_job_path("allocations"),
            ("allocations", None),
            "a job may be named like a suffix"
        );
    }
}
