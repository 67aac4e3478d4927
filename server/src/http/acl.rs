//! `/v1/acl/bootstrap` and `/v1/acl/policies`, `/v1/acl/policy/:name`
//! (Nomad command/agent/acl_endpoint.go, nomad/acl_endpoint.go). Tokens are
//! in [`super::acl_tokens`].
//!
//! Every write goes through Raft. Which token may call what is decided by
//! the ACL layer ([`crate::acl::enforce`]), except reading a policy, which
//! a token may do for the policies it holds.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use drover_api::{AclBootstrapRequest, AclPolicy, AclToken, ACL_MANAGEMENT_TOKEN};
use drover_state::command::{AclBootstrap, AclPolicyDelete, AclPolicyUpsert, AclTokenRow};
use drover_state::{ApplyError, Command};

use super::blocking::{blocking, json, write_response};
use super::error::{HttpError, HttpResult};
use super::job_writes::{now, write_error};
use super::query::{QueryOptions, RawQuery};
use super::App;
use crate::acl::enforce::{Caller, PERMISSION_DENIED};
use crate::acl::{policy, sha256};

/// Nomad's answer to any ACL call on an agent without ACLs.
pub(super) fn enabled(app: &App) -> HttpResult<()> {
    if app.acl.enabled {
        Ok(())
    } else {
        Err(HttpError::bad_request("ACL support disabled"))
    }
}

pub(super) fn denied() -> HttpError {
    HttpError::new(StatusCode::FORBIDDEN, PERMISSION_DENIED)
}

/// An apply refusal: Nomad's 400 with its message, 404 for what is not
/// there.
pub(super) fn refused(e: ApplyError) -> HttpError {
    let msg = e.to_string();
    if msg.contains("not found") || msg.starts_with("Cannot delete nonexistent") {
        HttpError::not_found(msg)
    } else {
        HttpError::bad_request(msg)
    }
}

/// An empty `200` with the write's index, as Nomad answers a policy write.
fn empty_write(index: u64) -> Response {
    (StatusCode::OK, [("X-Nomad-Index", index.to_string())]).into_response()
}

/// A token as stored (the secret hashed) and the secret to show once.
pub(super) fn stored(mut token: AclToken, secret: &str) -> AclTokenRow {
    token.secret_id.clear();
    AclTokenRow {
        token,
        secret_hash: sha256::hex(secret.as_bytes()),
    }
}

/// `POST`/`PUT /v1/acl/bootstrap`: the first management token, once. The
/// body may name its secret (`BootstrapSecret`); otherwise one is made.
pub async fn bootstrap(State(app): State<App>, body: Bytes) -> HttpResult<Response> {
    enabled(&app)?;
    let req: AclBootstrapRequest = if body.iter().all(u8::is_ascii_whitespace) {
        AclBootstrapRequest::default()
    } else {
        crate::jobs::decode_json(&body)
            .map_err(|e| HttpError::bad_request(format!("failed to decode request body: {e}")))?
    };
    let secret = if req.bootstrap_secret.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        uuid::Uuid::parse_str(&req.bootstrap_secret)
            .map_err(|_| HttpError::bad_request("BootstrapSecret: must be a UUID"))?;
        req.bootstrap_secret
    };
    let now = now();
    let token = AclToken {
        accessor_id: uuid::Uuid::new_v4().to_string(),
        name: "Bootstrap Token".into(),
        token_type: ACL_MANAGEMENT_TOKEN.into(),
        global: true,
        create_time: now,
        ..AclToken::default()
    };
    let cmd = Command::AclBootstrap(AclBootstrap {
        token: stored(token.clone(), &secret),
        now,
    });
    let out = app.raft.write(cmd).await.map_err(write_error)?;
    out.result.map_err(refused)?;
    let shown = AclToken {
        secret_id: secret,
        create_index: out.index,
        modify_index: out.index,
        ..token
    };
    Ok(write_response(&shown, out.index))
}

/// How long a watching [`authorize`] holds an answer that has not changed.
pub const AUTHORIZE_WATCH_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// `PUT /v1/internal/acl/authorize` (Drover), body `{"Method": "GET",
/// "Path": "/v1/client/...?..."}` with the user's token headers: `200`
/// when the token may make that call, else the `403` the call would get.
/// A client-only agent asks this before serving its own `/v1/client/*`.
/// With `"Watch": true` the answer is held while the call is still
/// allowed, up to [`AUTHORIZE_WATCH_MAX`], and comes as the `403` as soon
/// as it no longer is: how a client-only agent ends an open exec session
/// whose token was deleted or expired.
pub async fn authorize(
    State(app): State<App>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> HttpResult<Response> {
    #[derive(serde::Deserialize)]
    struct Call {
        #[serde(rename = "Method")]
        method: String,
        #[serde(rename = "Path")]
        path: String,
        #[serde(rename = "Watch", default)]
        watch: bool,
    }
    let call: Call = serde_json::from_slice(&body)
        .map_err(|e| HttpError::bad_request(format!("failed to decode request body: {e}")))?;
    let method = axum::http::Method::from_bytes(call.method.as_bytes())
        .map_err(|_| HttpError::bad_request(format!("Method: not a method: {:?}", call.method)))?;
    let answer = if call.watch {
        crate::acl::enforce::authorize_until_refused(
            &app,
            method,
            &call.path,
            &headers,
            AUTHORIZE_WATCH_MAX,
        )
        .await
    } else {
        crate::acl::enforce::authorize(&app, method, &call.path, &headers).await
    };
    match answer {
        Ok(()) => Ok(StatusCode::OK.into_response()),
        Err(refusal) => Ok(refusal),
    }
}

/// `GET /v1/acl/policies`: every policy for a management token, otherwise
/// the token's own (Nomad's `ListPolicies`); `prefix` narrows by name.
pub async fn list_policies(
    State(app): State<App>,
    caller: Option<Extension<Caller>>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    enabled(&app)?;
    let q = RawQuery::parse(raw.as_deref());
    let opts = QueryOptions::from_raw(&q)?;
    let prefix = q.get("prefix").unwrap_or_default().to_string();
    let (stubs, meta) = blocking(&app, &opts, |st, ws| {
        let stubs: Vec<_> = st
            .acl_policies(ws)
            .filter(|p| p.name.starts_with(&prefix))
            .filter(|p| may_read_policy(caller.as_deref(), &p.name))
            .map(AclPolicy::stub)
            .collect();
        Ok((stubs, st.table_index(drover_state::Table::AclPolicies)))
    })
    .await?;
    Ok(json(&stubs, &meta))
}

/// A management token reads every policy; another token those it holds;
/// no token the `anonymous` policy.
fn may_read_policy(caller: Option<&Caller>, name: &str) -> bool {
    let Some(Caller(id)) = caller else {
        return true;
    };
    match &id.token {
        Some(t) => t.is_management() || t.policies.iter().any(|p| p == name),
        None => name == crate::acl::ANONYMOUS_POLICY,
    }
}

/// `GET /v1/acl/policy/:name`.
pub async fn get_policy(
    State(app): State<App>,
    caller: Option<Extension<Caller>>,
    Path(name): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    enabled(&app)?;
    if !may_read_policy(caller.as_deref(), &name) {
        return Err(denied());
    }
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    let (policy, meta) = blocking(&app, &opts, |st, ws| {
        let p = st.acl_policy(ws, &name).cloned();
        let index = p
            .as_ref()
            .map_or(st.table_index(drover_state::Table::AclPolicies), |p| {
                p.modify_index
            });
        Ok((p, index))
    })
    .await?;
    let policy = policy.ok_or_else(|| HttpError::not_found("ACL policy not found"))?;
    Ok(json(&policy, &meta))
}

/// Nomad's `ValidPolicyName`.
fn valid_policy_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `PUT`/`POST /v1/acl/policy/:name`: create or replace. The rules must
/// parse; a bad one is a 400 naming its line.
pub async fn put_policy(
    State(app): State<App>,
    Path(name): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    enabled(&app)?;
    let mut p: AclPolicy = crate::jobs::decode_json(&body)
        .map_err(|e| HttpError::bad_request(format!("failed to decode request body: {e}")))?;
    if p.name.is_empty() {
        p.name = name.clone();
    }
    if p.name != name {
        return Err(HttpError::bad_request(
            "Name: policy name does not match request path",
        ));
    }
    if !valid_policy_name(&p.name) {
        return Err(HttpError::bad_request(format!(
            "Name: invalid name '{}': 1 to 128 letters, digits and dashes",
            p.name
        )));
    }
    if p.description.len() > 256 {
        return Err(HttpError::bad_request(
            "Description: longer than 256 characters",
        ));
    }
    policy::parse(&p.rules).map_err(|e| HttpError::bad_request(format!("Rules: {e}")))?;
    (p.create_index, p.modify_index) = (0, 0);
    let cmd = Command::AclPolicyUpsert(AclPolicyUpsert {
        policies: vec![p],
        now: now(),
    });
    let out = app.raft.write(cmd).await.map_err(write_error)?;
    out.result.map_err(refused)?;
    Ok(empty_write(out.index))
}

/// `DELETE /v1/acl/policy/:name`.
pub async fn delete_policy(
    State(app): State<App>,
    Path(name): Path<String>,
) -> HttpResult<Response> {
    enabled(&app)?;
    let cmd = Command::AclPolicyDelete(AclPolicyDelete {
        names: vec![name],
        now: now(),
    });
    let out = app.raft.write(cmd).await.map_err(write_error)?;
    out.result.map_err(refused)?;
    Ok(empty_write(out.index))
}
