//! `drover alloc logs`: a task's stdout or stderr as plain bytes, from the
//! start, or the tail (`-tail`, `-n` lines or `-c` bytes), optionally
//! followed (`-f`). `-f` alone follows both streams from their current end,
//! stdout to stdout and stderr to stderr, as Nomad does: two files cannot
//! be interleaved by history, only by arrival.

use std::time::Duration;

use anyhow::{anyhow, bail};
use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::api::{form_urlencoded, Api};

/// Nomad's guess at a line's length, to turn `-n` into a byte offset when
/// the agent cannot count lines itself.
const BYTES_PER_LINE: i64 = 120;

/// Lines shown by `-tail` without `-n` or `-c`.
const DEFAULT_TAIL_LINES: i64 = 10;

/// What to print.
pub struct LogsRequest {
    pub alloc_id: String,
    pub task: String,
    pub follow: bool,
    pub stderr: bool,
    pub tail: bool,
    pub lines: Option<i64>,
    pub bytes: Option<i64>,
}

/// Streams the requested log to the local stdout (or both, see the module).
pub async fn run(api: &Api, req: &LogsRequest, stdout_flag: bool) -> anyhow::Result<()> {
    let plain_follow = req.follow
        && !(req.stderr || stdout_flag || req.tail || req.lines.is_some() || req.bytes.is_some());
    if plain_follow {
        let from_end = [("origin", "end".to_string()), ("offset", "0".to_string())];
        let out = stream(api, req, "stdout", &from_end, tokio::io::stdout(), None);
        let err = stream(api, req, "stderr", &from_end, tokio::io::stderr(), None);
        let (a, b) = tokio::join!(out, err);
        return a.and(b);
    }
    if req.stderr && stdout_flag {
        bail!("Unable to support both stdout and stderr");
    }
    let kind = if req.stderr { "stderr" } else { "stdout" };
    let mut params: Vec<(&str, String)> = Vec::new();
    let mut keep_lines = None;
    if req.tail {
        let lines = match (req.lines, req.bytes) {
            (Some(_), Some(_)) => bail!("both -n and -c set"),
            (Some(n), None) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAIL_LINES),
        };
        let offset = match (lines, req.bytes) {
            (Some(n), _) => n.saturating_mul(BYTES_PER_LINE),
            (None, Some(c)) => c,
            (None, None) => 0,
        };
        params.push(("origin", "end".into()));
        params.push(("offset", offset.max(0).to_string()));
        if let Some(n) = lines {
            // An agent that counts lines starts exactly N lines back; one
            // that does not sends N*120 bytes, trimmed below to N lines.
            params.push(("lines", n.max(0).to_string()));
            keep_lines = Some(n.max(0) as usize);
        }
    } else {
        params.push(("origin", "start".into()));
        params.push(("offset", "0".into()));
    }
    stream(api, req, kind, &params, tokio::io::stdout(), keep_lines)
        .await
        .map_err(|e| anyhow!("Failed to read {kind} file: {e:#}"))
}

/// Copies one log stream to `out`. With `keep_lines`, what arrives first
/// (until the stream ends or goes quiet briefly) is cut to its last N
/// lines; later bytes of a followed stream pass through.
async fn stream<W: AsyncWrite + Unpin>(
    api: &Api,
    req: &LogsRequest,
    kind: &str,
    params: &[(&str, String)],
    mut out: W,
    keep_lines: Option<usize>,
) -> anyhow::Result<()> {
    let mut url = api.url(&format!(
        "/v1/client/fs/logs/{}?task={}&type={kind}&plain=true&follow={}",
        req.alloc_id,
        form_urlencoded(&req.task),
        req.follow
    ));
    for (k, v) in params {
        url.push_str(&format!("&{k}={}", form_urlencoded(v)));
    }
    let r = api
        .http
        .get(url)
        .send()
        .await
        .map_err(|e| anyhow!("{}", super::api::connect_error(&api.base, &e)))?;
    let status = r.status();
    if !status.is_success() {
        let body = r.text().await.unwrap_or_default();
        bail!(
            "Unexpected response code: {} ({})",
            status.as_u16(),
            body.trim()
        );
    }
    let mut body = r.bytes_stream();
    if let Some(n) = keep_lines {
        let mut head = Vec::new();
        let quiet = Duration::from_millis(500);
        while let Ok(Some(chunk)) = tokio::time::timeout(quiet, body.next()).await {
            head.extend_from_slice(&chunk?);
        }
        write(&mut out, last_lines(&head, n)).await?;
    }
    while let Some(chunk) = body.next().await {
        write(&mut out, &chunk?).await?;
    }
    Ok(())
}

async fn write<W: AsyncWrite + Unpin>(out: &mut W, data: &[u8]) -> anyhow::Result<()> {
    out.write_all(data).await?;
    out.flush().await?;
    Ok(())
}

/// The last `n` lines of `data` (a final line without `\n` counts).
fn last_lines(data: &[u8], n: usize) -> &[u8] {
    if n == 0 {
        return &[];
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut seen = 0;
    for (i, &b) in body.iter().enumerate().rev() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                return &data[i + 1..];
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::last_lines;

    #[test]
    fn last_lines_counts_from_the_end() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(last_lines(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(last_lines(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(last_lines(b"a\nb\n", 0), b"");
    }
}
