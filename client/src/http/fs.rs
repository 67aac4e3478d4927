//! `/v1/client/fs/{ls,stat,cat,readat}`: one-shot reads of an allocation
//! directory. `cat` and `readat` stream the file in chunks (no frames), so a
//! large file never sits in memory whole.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::stream::{self, ReadPlan};
use super::{lookup_dir, parse_u64, required, Allocs, HttpError, HttpResult, Params};

const FILE_NAME_MISSING: &str = "must provide a file name";

/// `GET /v1/client/fs/ls/{alloc_id}?path=/`: `[AllocFileInfo]`, sorted by name.
pub(super) async fn ls(
    State(allocs): State<Allocs>,
    Path(alloc_id): Path<String>,
    Query(params): Query<Params>,
) -> HttpResult<Response> {
    let dir = lookup_dir(&allocs, &alloc_id)?;
    let path = match params.get("path").map(String::as_str) {
        None | Some("") => "/".to_string(),
        Some(p) => p.to_string(),
    };
    let files = blocking(move || dir.list(&path).map_err(HttpError::from)).await?;
    Ok(Json(files).into_response())
}

/// `GET /v1/client/fs/stat/{alloc_id}?path=`: one `AllocFileInfo`.
pub(super) async fn stat(
    State(allocs): State<Allocs>,
    Path(alloc_id): Path<String>,
    Query(params): Query<Params>,
) -> HttpResult<Response> {
    let path = required(&params, "path", FILE_NAME_MISSING)?.to_string();
    let dir = lookup_dir(&allocs, &alloc_id)?;
    let info = blocking(move || dir.stat(&path).map_err(HttpError::from)).await?;
    Ok(Json(info).into_response())
}

/// `GET /v1/client/fs/cat/{alloc_id}?path=`: the file's bytes.
pub(super) async fn cat(
    State(allocs): State<Allocs>,
    Path(alloc_id): Path<String>,
    Query(params): Query<Params>,
) -> HttpResult<Response> {
    let path = required(&params, "path", FILE_NAME_MISSING)?.to_string();
    raw_file(allocs, alloc_id, path, 0, None).await
}

/// `GET /v1/client/fs/readat/{alloc_id}?path=&offset=&limit=`: up to
/// `limit` bytes from `offset` (no or zero limit: to the end of the file).
pub(super) async fn readat(
    State(allocs): State<Allocs>,
    Path(alloc_id): Path<String>,
    Query(params): Query<Params>,
) -> HttpResult<Response> {
    let path = required(&params, "path", FILE_NAME_MISSING)?.to_string();
    let offset = parse_u64(&params, "offset")?;
    let limit = Some(parse_u64(&params, "limit")?).filter(|l| *l > 0);
    raw_file(allocs, alloc_id, path, offset, limit).await
}

async fn raw_file(
    allocs: Allocs,
    alloc_id: String,
    path: String,
    offset: u64,
    limit: Option<u64>,
) -> HttpResult<Response> {
    let dir = lookup_dir(&allocs, &alloc_id)?;
    let plan = ReadPlan {
        plain: true,
        follow: false,
        limit,
    };
    let (tail, content_type) = blocking(move || {
        // Untrusted content: the type is sniffed (text or octet-stream),
        // never taken from the file name beyond `.json`.
        let content_type = dir.stat(&path)?.content_type;
        let tail = stream::open_file(&dir, &path, crate::logmon::Origin::Start, offset, &plan)?;
        Ok((tail, content_type))
    })
    .await?;
    Ok(stream::respond(
        tail,
        allocs,
        alloc_id,
        Vec::new(),
        plan,
        &content_type,
    ))
}

/// Runs blocking file-system work off the async workers.
pub(super) async fn blocking<T, F>(f: F) -> HttpResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> HttpResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HttpError::internal(format!("file system task failed: {e}")))?
}
