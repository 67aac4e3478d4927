//! The source a job was submitted in, as registers carry it (Nomad 1.6+
//! `JobRegisterRequest.Submission`; nomad/job_endpoint_hooks.go
//! `submissionController`).

use drover_api::JobSubmission;

/// The largest source kept, counted as [`JobSubmission::size`]: Nomad's
/// default `job_max_source_size` of "1M" (command/agent/agent.go), which
/// go-humanize reads as 10^6 bytes.
pub const MAX_SOURCE_SIZE: usize = 1_000_000;

/// The submission to keep, and the register's warnings: a source over
/// [`MAX_SOURCE_SIZE`] is dropped and the job registered without it, with
/// Nomad's warning.
pub fn accept(submission: Option<JobSubmission>) -> (Option<JobSubmission>, String) {
    match submission {
        Some(s) if s.size() > MAX_SOURCE_SIZE => (
            None,
            format!(
                "job source size of {} exceeds maximum of {} and will be discarded",
                human_bytes(s.size()),
                human_bytes(MAX_SOURCE_SIZE)
            ),
        ),
        other => (other, String::new()),
    }
}

/// Bytes in SI units as go-humanize's `Bytes` writes them: "999 B",
/// "1.0 MB", "15 MB".
fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 10 {
        return format!("{n} B");
    }
    let mut e = 0;
    let mut scaled = n as f64;
    while scaled >= 1000.0 && e + 1 < UNITS.len() {
        scaled /= 1000.0;
        e += 1;
    }
    let val = (scaled * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", UNITS[e])
    } else {
        format!("{val:.0} {}", UNITS[e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_go_humanize() {
        assert_eq!(human_bytes(5), "5 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_000_000), "1.0 MB");
        assert_eq!(human_bytes(1_200_001), "1.2 MB");
        assert_eq!(human_bytes(15_000_000), "15 MB");
    }

    #[test]
    fn a_source_over_the_limit_is_dropped_with_a_warning() {
        let big = JobSubmission {
            source: "x".repeat(MAX_SOURCE_SIZE),
            variable_flags: [("a".into(), "b".into())].into(),
            ..Default::default()
        };
        let (kept, warning) = accept(Some(big));
        assert_eq!(kept, None);
        assert_eq!(
            warning,
            "job source size of 1.0 MB exceeds maximum of 1.0 MB and will be discarded"
        );
        let small = JobSubmission {
            source: "job {}".into(),
            ..Default::default()
        };
        assert_eq!(accept(Some(small.clone())), (Some(small), String::new()));
    }
}
