//! Reading the examples out of a Markdown page, and matching a command's
//! output against what the page shows. Pure: no processes, no files.
//!
//! The conventions (also in `website/src/writing-docs.md`):
//! - A fenced block whose info string is `console` is run. Each `$ ` line
//!   is a command, `> ` lines continue it, and the lines up to the next
//!   command are its expected output. No output lines: only the exit
//!   status is checked. A line `...` stands for any number of lines, and
//!   `...` inside a line for any text.
//! - `console,not-run` (or `sh,not-run`, `hcl,...`) is shown and not run;
//!   the test counts those blocks. A `sh`, `bash` or `shell` block without
//!   `not-run` is an error: every command in the book is either run or
//!   explicitly marked.
//! - `json,file=NAME` (any language, `file=NAME`) is written to `NAME` in
//!   the page's working directory before the commands after it run.

/// One thing a page asks the test to do, in page order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A command and the output the page shows for it.
    Command {
        line: usize,
        command: String,
        expected: Vec<String>,
    },
    /// A file the following commands use.
    File {
        line: usize,
        name: String,
        body: String,
    },
}

/// What a page holds: its steps, and the blocks it marks as not run.
#[derive(Debug, Default)]
pub struct Page {
    pub steps: Vec<Step>,
    /// Line of each `not-run` block.
    pub not_run: Vec<usize>,
    /// Shell blocks that are neither run nor marked: `(line, info)`.
    pub unmarked: Vec<(usize, String)>,
}

/// Reads the fenced blocks of a Markdown page.
pub fn page(text: &str) -> Page {
    let mut page = Page::default();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = fence_open(lines[i]) else {
            i += 1;
            continue;
        };
        let start = i + 1; // 1-based line of the opening fence is i + 1
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && !lines[i].trim_start().starts_with("```") {
            body.push((i + 1, lines[i]));
            i += 1;
        }
        i += 1; // the closing fence
        let mut parts = info.split(',').map(str::trim);
        let lang = parts.next().unwrap_or_default();
        let flags: Vec<&str> = parts.collect();
        if let Some(name) = flags.iter().find_map(|f| f.strip_prefix("file=")) {
            let text: Vec<&str> = body.iter().map(|(_, l)| *l).collect();
            page.steps.push(Step::File {
                line: start,
                name: name.to_string(),
                body: text.join("\n") + "\n",
            });
        } else if flags.contains(&"not-run") {
            page.not_run.push(start);
        } else if lang == "console" {
            page.steps.extend(commands(&body));
        } else if matches!(lang, "sh" | "bash" | "shell" | "zsh") {
            page.unmarked.push((start, info.to_string()));
        }
    }
    page
}

/// The info string of an opening fence.
fn fence_open(line: &str) -> Option<&str> {
    line.trim_start().strip_prefix("```").map(str::trim)
}

/// The commands of a `console` block and the output shown after each.
pub fn commands(body: &[(usize, &str)]) -> Vec<Step> {
    let mut steps = Vec::new();
    for &(line, text) in body {
        if let Some(cmd) = text.strip_prefix("$ ") {
            steps.push(Step::Command {
                line,
                command: cmd.to_string(),
                expected: Vec::new(),
            });
            continue;
        }
        let Some(Step::Command {
            command, expected, ..
        }) = steps.last_mut()
        else {
            continue; // text before the first command is not checked
        };
        match text.strip_prefix("> ") {
            Some(more) if expected.is_empty() => {
                command.push('\n');
                command.push_str(more);
            }
            _ => expected.push(text.trim_end().to_string()),
        }
    }
    steps
}

/// The commands of a plain `sh` block, one a line (the README's tour):
/// comments and blank lines skipped, a trailing comment kept, since it may
/// say how the command ends.
pub fn plain_commands(body: &[(usize, &str)]) -> Vec<Step> {
    body.iter()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|&(line, l)| Step::Command {
            line,
            command: l.to_string(),
            expected: Vec::new(),
        })
        .collect()
}

/// The body of the first fenced block after the heading `heading`, with
/// 1-based line numbers.
pub fn block_after<'a>(text: &'a str, heading: &str) -> Option<Vec<(usize, &'a str)>> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| l.trim() == heading)?;
    let open = (at..lines.len()).find(|&i| fence_open(lines[i]).is_some())?;
    Some(
        (open + 1..lines.len())
            .take_while(|&i| !lines[i].trim_start().starts_with("```"))
            .map(|i| (i + 1, lines[i]))
            .collect(),
    )
}

/// Whether `actual` (a command's output) is what the page shows. `Err`
/// says where they part.
pub fn output_matches(expected: &[String], actual: &str) -> Result<(), String> {
    if expected.is_empty() {
        return Ok(());
    }
    let actual: Vec<&str> = actual.lines().map(str::trim_end).collect();
    if lines_match(expected, &actual) {
        return Ok(());
    }
    let first_miss = expected
        .iter()
        .find(|e| e.as_str() != "..." && !actual.iter().any(|a| line_matches(e, a)))
        .map(|e| format!("no output line matches {e:?}"))
        .unwrap_or_else(|| "the lines are there but not in the page's order".into());
    Err(first_miss)
}

fn lines_match(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => {
            (0..=actual.len()).any(|k| lines_match(rest, &actual[k..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| line_matches(e, a) && lines_match(rest, more)),
    }
}

/// One line against a pattern in which `...` is any text.
pub fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("...").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(expected: &[&str], actual: &str, want: bool) {
        let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            output_matches(&expected, actual).is_ok(),
            want,
            "{expected:?} vs {actual:?}"
        );
    }

    #[test]
    fn matching() {
        check(&[], "anything", true);
        check(&["a", "b"], "a\nb\n", true);
        check(&["a", "b"], "a\nc\n", false);
        check(&["a", "...", "d"], "a\nb\nc\nd", true);
        check(&["a", "...", "d"], "a\nd", true);
        check(&["...", "x"], "a\nb", false);
        check(
            &[r#"{"ID": "...", "Index": ...}"#],
            r#"{"ID": "9f-1", "Index": 12}"#,
            true,
        );
        check(&["a...b...c"], "abc", true);
        check(&["a...a"], "a", false);
    }

    #[test]
    fn console_blocks() {
        let page = page(
            "x\n```console\n$ curl -s \\\n> localhost:4646/v1/jobs\n[]\n$ echo hi\n```\n\
             ```sh\nrm -rf /\n```\n```console,not-run\n$ docker compose up\n```\n\
             ```json,file=job.json\n{}\n```\n",
        );
        assert_eq!(
            page.steps,
            vec![
                Step::Command {
                    line: 3,
                    command: "curl -s \\\nlocalhost:4646/v1/jobs".into(),
                    expected: vec!["[]".into()]
                },
                Step::Command {
                    line: 6,
                    command: "echo hi".into(),
                    expected: vec![]
                },
                Step::File {
                    line: 14,
                    name: "job.json".into(),
                    body: "{}\n".into()
                },
            ]
        );
        assert_eq!(page.not_run, vec![11]);
        assert_eq!(page.unmarked, vec![(8, "sh".to_string())]);
    }
}
