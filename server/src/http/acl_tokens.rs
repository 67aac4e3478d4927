//! `/v1/acl/tokens`, `/v1/acl/token`, `/v1/acl/token/:accessor` and
//! `/v1/acl/token/self` (Nomad command/agent/acl_endpoint.go,
//! nomad/acl_endpoint.go `UpsertTokens`, nomad/structs/acl.go
//! `ACLToken.Validate`).
//!
//! Secrets are stored only as their SHA-256: a token's `SecretID` is in
//! the answer that created it, and in `token/self` (the caller sent it),
//! and empty everywhere else. Nomad shows it to management tokens on every
//! read; Drover cannot.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use drover_api::{AclToken, ACL_CLIENT_TOKEN, ACL_MANAGEMENT_TOKEN};
use drover_state::command::{AclTokenDelete, AclTokenUpsert};
use drover_state::pagination::{SortKey, TokenKind};
use drover_state::{Command, Table};

use super::acl::{denied, enabled, refused, stored};
use super::blocking::{blocking, json, write_response};
use super::error::{HttpError, HttpResult};
use super::job_writes::{now, write_error};
use super::list::{page, start_key};
use super::query::{QueryOptions, RawQuery};
use super::App;
use crate::acl::enforce::{token_from_headers, AclConfig, Caller};

/// Nomad's `maxTokenNameLength`.
const MAX_NAME: usize = 256;

/// Nomad's `ACLToken.Validate` for a new token (`existing` None) or an
/// update; every problem found, as Nomad's multierror lists them.
fn validate(t: &AclToken, cfg: &AclConfig, existing: Option<&AclToken>) -> Result<(), String> {
    let mut errs: Vec<String> = Vec::new();
    if t.name.len() > MAX_NAME {
        errs.push("token name too long".into());
    }
    if !t.roles.is_empty() {
        errs.push("Roles: ACL roles are not supported".into());
    }
    match t.token_type.as_str() {
        ACL_CLIENT_TOKEN if t.policies.is_empty() => {
            errs.push("client token missing policies or roles".into())
        }
        ACL_MANAGEMENT_TOKEN if !t.policies.is_empty() => {
            errs.push("management token cannot be associated with policies or roles".into())
        }
        ACL_CLIENT_TOKEN | ACL_MANAGEMENT_TOKEN => {}
        _ => errs.push("token type must be client or management".into()),
    }
    match existing {
        None => {
            if t.expiration_ttl < 0 {
                errs.push(format!(
                    "token expiration TTL '{}' should not be negative",
                    go_duration(t.expiration_ttl)
                ));
            }
            if let Some(exp) = t.expiration_time {
                if t.create_time > exp {
                    errs.push("expiration time cannot be before create time".into());
                }
                let expires_in = exp.saturating_sub(t.create_time);
                let (min, max) = (
                    nanos(cfg.token_min_expiration_ttl),
                    nanos(cfg.token_max_expiration_ttl),
                );
                if expires_in > max {
                    errs.push(format!(
                        "expiration time cannot be more than {} in the future (was {})",
                        go_duration(max),
                        go_duration(expires_in)
                    ));
                } else if expires_in < min {
                    errs.push(format!(
                        "expiration time cannot be less than {} in the future (was {})",
                        go_duration(min),
                        go_duration(expires_in)
                    ));
                }
            }
        }
        Some(old) => {
            if old.global != t.global {
                errs.push("cannot toggle global mode".into());
            }
            if old.expiration_ttl != t.expiration_ttl {
                errs.push("cannot update expiration TTL".into());
            }
            if t.expiration_time.is_some() && t.expiration_time != old.expiration_time {
                errs.push("cannot update expiration time".into());
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// A duration as Go prints one, to the second (`1m0s`, `24h0m0s`, `30s`).
fn go_duration(ns: i64) -> String {
    let neg = ns < 0;
    let total = ns.unsigned_abs();
    let secs = total / 1_000_000_000;
    let frac = total % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let s = if frac == 0 {
        format!("{s}")
    } else {
        format!("{s}.{}", format!("{frac:09}").trim_end_matches('0'))
    };
    let body = if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

fn decode(body: &[u8]) -> HttpResult<AclToken> {
    crate::jobs::decode_json(body)
        .map_err(|e| HttpError::bad_request(format!("failed to decode request body: {e}")))
}

/// `GET /v1/acl/tokens` (management only, by the ACL layer): stubs in
/// `CreateIndex` order, paged with `CreateIndex.AccessorID` tokens as
/// Nomad's (`per_page`, `next_token`, `reverse`, `filter`); `prefix`
/// narrows by accessor, `policy` to the tokens that hold one.
pub async fn list(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    enabled(&app)?;
    let q = RawQuery::parse(raw.as_deref());
    let opts = QueryOptions::from_raw(&q)?;
    let prefix = q.get("prefix").unwrap_or_default().to_string();
    let policy = q.get("policy").map(str::to_string);
    let kind = TokenKind::CreateIndexId;
    let start = start_key(&opts, kind)?;
    let reverse = opts.page.reverse;
    let key = |t: &AclToken| SortKey::CreateIndexId(t.create_index, t.accessor_id.clone());
    let ((stubs, next), mut meta) = blocking(&app, &opts, |st, ws| {
        let mut tokens: Vec<&AclToken> = st
            .acl_tokens(ws)
            .filter(|t| t.accessor_id.starts_with(&prefix))
            .filter(|t| policy.as_ref().is_none_or(|p| t.policies.contains(p)))
            .collect();
        tokens.sort_by_key(|t| key(t));
        if reverse {
            tokens.reverse();
        }
        let from = tokens.iter().copied().filter(|t| {
            start
                .as_ref()
                .is_none_or(|s| if reverse { key(t) <= *s } else { key(t) >= *s })
        });
        let l = page(from, kind, &opts, key, |t| t)?;
        let stubs: Vec<_> = l.items.into_iter().map(|t| t.stub()).collect();
        Ok(((stubs, l.next_token), st.table_index(Table::AclTokens)))
    })
    .await?;
    meta.next_token = next;
    Ok(json(&stubs, &meta))
}

/// `PUT`/`POST /v1/acl/token`: a new token, or an update when the body
/// names an `AccessorID`.
pub async fn create(State(app): State<App>, body: Bytes) -> HttpResult<Response> {
    enabled(&app)?;
    let t = decode(&body)?;
    if !t.accessor_id.is_empty() {
        let accessor = t.accessor_id.clone();
        return write_update(&app, &accessor, t).await;
    }
    let now = now();
    let secret = uuid::Uuid::new_v4().to_string();
    let mut token = AclToken {
        accessor_id: uuid::Uuid::new_v4().to_string(),
        secret_id: String::new(),
        create_time: now,
        create_index: 0,
        modify_index: 0,
        ..t
    };
    if token.expiration_time.is_none() && token.expiration_ttl != 0 {
        token.expiration_time = Some(now.saturating_add(token.expiration_ttl));
    }
    validate(&token, &app.acl, None)
        .map_err(|e| HttpError::bad_request(format!("token 0 invalid: {e}")))?;
    let cmd = Command::AclTokenUpsert(AclTokenUpsert {
        tokens: vec![stored(token.clone(), &secret)],
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

/// `PUT`/`POST /v1/acl/token/:accessor`: change a token's name, type or
/// policies. Its secret, creation and expiry stay.
pub async fn update(
    State(app): State<App>,
    Path(accessor): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    enabled(&app)?;
    let t = decode(&body)?;
    if !t.accessor_id.is_empty() && t.accessor_id != accessor {
        return Err(HttpError::bad_request(
            "AccessorID: does not match the request path",
        ));
    }
    write_update(&app, &accessor, t).await
}

async fn write_update(app: &App, accessor: &str, t: AclToken) -> HttpResult<Response> {
    let (old, hash) = {
        let applied = app.raft.shared.read();
        let st = &applied.state;
        let old = st
            .acl_token(&mut drover_state::WatchSet::new(), accessor)
            .cloned();
        let hash = old
            .as_ref()
            .and_then(|_| st.acl_token_secret_hash(accessor).map(str::to_string));
        (old, hash)
    };
    let (Some(old), Some(hash)) = (old, hash) else {
        return Err(HttpError::bad_request(format!(
            "cannot find token {accessor}"
        )));
    };
    validate(&t, &app.acl, Some(&old))
        .map_err(|e| HttpError::bad_request(format!("token 0 invalid: {e}")))?;
    let token = AclToken {
        accessor_id: old.accessor_id.clone(),
        secret_id: String::new(),
        name: t.name,
        token_type: t.token_type,
        policies: t.policies,
        ..old
    };
    let cmd = Command::AclTokenUpsert(AclTokenUpsert {
        tokens: vec![drover_state::command::AclTokenRow {
            token: token.clone(),
            secret_hash: hash,
        }],
        now: now(),
    });
    let out = app.raft.write(cmd).await.map_err(write_error)?;
    out.result.map_err(refused)?;
    let shown = AclToken {
        modify_index: out.index,
        ..token
    };
    Ok(write_response(&shown, out.index))
}

/// `GET /v1/acl/token/:accessor`: a management token reads any token,
/// another token only itself.
pub async fn get_one(
    State(app): State<App>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    Path(accessor): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    enabled(&app)?;
    let own = caller
        .as_ref()
        .and_then(|c| c.0 .0.token.as_ref())
        .is_some_and(|t| t.accessor_id == accessor);
    let management = caller.as_ref().is_some_and(|c| c.0 .0.acl.is_management());
    if !own && !management {
        return Err(denied());
    }
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    let (token, meta) = blocking(&app, &opts, |st, ws| {
        let t = st.acl_token(ws, &accessor).cloned();
        let index = t
            .as_ref()
            .map_or(st.table_index(Table::AclTokens), |t| t.modify_index);
        Ok((t, index))
    })
    .await?;
    let mut token = token.ok_or_else(|| HttpError::not_found("ACL token not found"))?;
    if own {
        token.secret_id = token_from_headers(&headers).unwrap_or_default();
    }
    Ok(json(&token, &meta))
}

/// `GET /v1/acl/token/self`: the caller's own token, with the secret it
/// sent.
pub async fn get_self(
    State(app): State<App>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    enabled(&app)?;
    let accessor = caller
        .as_ref()
        .and_then(|c| c.0 .0.token.as_ref())
        .map(|t| t.accessor_id.clone())
        .ok_or_else(|| HttpError::not_found("ACL token not found"))?;
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    let (token, meta) = blocking(&app, &opts, |st, ws| {
        let t = st.acl_token(ws, &accessor).cloned();
        let index = t
            .as_ref()
            .map_or(st.table_index(Table::AclTokens), |t| t.modify_index);
        Ok((t, index))
    })
    .await?;
    let mut token = token.ok_or_else(|| HttpError::not_found("ACL token not found"))?;
    token.secret_id = token_from_headers(&headers).unwrap_or_default();
    Ok(json(&token, &meta))
}

/// `DELETE /v1/acl/token/:accessor`.
pub async fn delete(State(app): State<App>, Path(accessor): Path<String>) -> HttpResult<Response> {
    enabled(&app)?;
    let cmd = Command::AclTokenDelete(AclTokenDelete {
        accessors: vec![accessor],
        now: now(),
    });
    let out = app.raft.write(cmd).await.map_err(write_error)?;
    out.result.map_err(refused)?;
    Ok(write_response(&serde_json::Value::Null, out.index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(60_000_000_000), "1m0s");
        assert_eq!(go_duration(24 * 3600 * 1_000_000_000), "24h0m0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(-1_000_000_000), "-1s");
    }

    #[test]
    fn validation_follows_nomad() {
        let cfg = AclConfig::default();
        let base = AclToken {
            token_type: "client".into(),
            policies: vec!["p".into()],
            create_time: 1_000_000_000_000,
            ..AclToken::default()
        };
        assert_eq!(validate(&base, &cfg, None), Ok(()));
        let no_policies = AclToken {
            policies: vec![],
            ..base.clone()
        };
        assert!(validate(&no_policies, &cfg, None)
            .unwrap_err()
            .contains("client token missing policies"));
        let short = AclToken {
            expiration_time: Some(base.create_time + 1_000_000_000),
            ..base.clone()
        };
        assert!(validate(&short, &cfg, None)
            .unwrap_err()
            .contains("cannot be less than 1m0s"));
        let bad_type = AclToken {
            token_type: "root".into(),
            ..base.clone()
        };
        assert!(validate(&bad_type, &cfg, None)
            .unwrap_err()
            .contains("token type must be client or management"));
    }
}
