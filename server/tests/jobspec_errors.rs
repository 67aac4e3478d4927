//! Job specs the parser must refuse, and Nomad features it must skip with a
//! warning instead of refusing. Messages are compared whole: they are what
//! `drover job run` prints, so they are part of the interface.

use drover_server::jobspec::{parse_hcl, JobspecErrorKind};

/// Parses `src` and checks the exact error message, or (`Ok`) that it
/// parses with exactly these warnings.
#[track_caller]
fn check(src: &str, want: Result<&[&str], &str>) {
    match (parse_hcl(src), want) {
        (Ok(parsed), Ok(warnings)) => assert_eq!(parsed.warnings, warnings, "in\n{src}"),
        (Ok(parsed), Err(want)) => panic!("expected error {want:?}, parsed {:#?}", parsed.job),
        (Err(err), Ok(_)) => panic!("unexpected error: {err}\nin\n{src}"),
        (Err(err), Err(want)) => assert_eq!(err.to_string(), want, "in\n{src}"),
    }
}

fn group(body: &str) -> String {
    format!("job \"example\" {{\ngroup \"cache\" {{\n{body}\n}}\n}}\n")
}

fn task(body: &str) -> String {
    group(&format!("task \"redis\" {{\n{body}\n}}"))
}

#[test]
fn syntax_errors_name_line_and_column() {
    check(
        "job \"example\" {\n  group \"cache\" {\n    count = \n  }\n}\n",
        Err("HCL syntax error at line 3, column 13: invalid expression; expected `\"`, `[`, `{`, `-`, `!`, `(`, `_`, `<`, letter or digit"),
    );
    check(
        "job \"example\" {",
        Err("HCL syntax error at line 1, column 16: invalid block body; expected `}`, newline or identifier"),
    );
    let err = parse_hcl("job \"x\" {\n a = 1\n a = 2\n}").expect_err("duplicate attribute");
    assert!(
        matches!(
            err.kind,
            JobspecErrorKind::Syntax {
                line: 3,
                column: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.path, "");
}

/// An unquoted word where a string belongs is an error with its position
/// (Nomad: `web.nomad.hcl:5,16-24: Variables not allowed`), never the
/// string `"${raw_exec}"`; dotted runtime references stay references.
#[test]
fn bare_words_are_errors_with_their_position() {
    check(
        "job \"web\" {\n  group \"g\" {\n    task \"t\" {\n      driver = raw_exec\n    }\n  }\n}\n",
        Err(r#"job.group["g"].task["t"].driver: line 4, column 16: variables not allowed: `raw_exec` is not a string; quote it as "raw_exec""#),
    );
    check(
        &task("driver = \"raw_exec\"\nconfig {\n  command = sleep\n}"),
        Err(
            r#"job.group["cache"].task["redis"].config.command: line 6, column 13: variables not allowed: `sleep` is not a string; quote it as "sleep""#,
        ),
    );
    check(
        &task("driver = \"raw_exec\"\nconfig {\n  args = [\"-c\", bash]\n}"),
        Err(
            r#"job.group["cache"].task["redis"].config.args[1]: line 6, column 17: variables not allowed: `bash` is not a string; quote it as "bash""#,
        ),
    );
    let err = parse_hcl(&group("count = three")).expect_err("a bare word");
    assert!(
        matches!(&err.kind, JobspecErrorKind::BareWord { word, at: Some((3, 9)) } if word == "three"),
        "{err:?}"
    );
    check(&task("driver = \"raw_exec\"\nuser = meta.user"), Ok(&[]));
}

#[test]
fn exactly_one_job_block() {
    check(
        "",
        Err("no job block found; a job file needs exactly one `job \"<id>\" { ... }` block"),
    );
    check(
        "variable \"x\" { default = 1 }",
        Err("no job block found; a job file needs exactly one `job \"<id>\" { ... }` block"),
    );
    check(
        "job \"a\" {}\njob \"b\" {}",
        Err("only one job block is allowed per file (job \"a\" came first)"),
    );
    check("job {}", Err("job: expected 1 block label(s), got 0"));
    check(
        "job \"a\" \"b\" {}",
        Err("job: expected 1 block label(s), got 2"),
    );
    check(
        "region = \"eu\"\njob \"a\" {}",
        Err("region: attributes are not allowed outside the job block"),
    );
    check("jobs \"a\" {}", Err("jobs: unknown block"));
    check(
        "{\"Job\": {\"ID\": \"x\"}}",
        Err("JSON job specs are not supported here; submit a JSON job to /v1/jobs directly"),
    );
}

#[test]
fn wrong_types_name_the_attribute() {
    check(
        &group("count = \"three\""),
        Err(r#"job.group["cache"].count: expected a number, got a string"#),
    );
    check(
        &group("count = 2.5"),
        Err(r#"job.group["cache"].count: expected a whole number, got 2.5"#),
    );
    check(
        &group("count = 3000000000"),
        Err(r#"job.group["cache"].count: number 3000000000 is out of range"#),
    );
    check(
        &group("count = [1]"),
        Err(r#"job.group["cache"].count: expected a number, got a list"#),
    );
    check(
        "job \"x\" {\ndatacenters = \"dc1\"\n}",
        Err("job.datacenters: expected a list of strings, got a string"),
    );
    check(
        "job \"x\" {\ndatacenters = [\"dc1\", [\"dc2\"]]\n}",
        Err("job.datacenters[1]: expected a string, got a list"),
    );
    check(
        "job \"x\" {\nall_at_once = \"yes\"\n}",
        Err("job.all_at_once: expected a bool, got a string"),
    );
    check(
        &task("driver = { name = \"docker\" }"),
        Err(r#"job.group["cache"].task["redis"].driver: expected a string, got an object"#),
    );
    check(
        &task("env {\n  nested { a = 1 }\n}"),
        Err(r#"job.group["cache"].task["redis"].env.nested: expected a string, got a block"#),
    );
    // Numeric strings convert, as they do in Nomad's HCL library.
    check(&group("count = \"3\""), Ok(&[]));
}

#[test]
fn unknown_attributes_and_blocks_are_rejected() {
    check(
        &group("cout = 3"),
        Err(r#"job.group["cache"].cout: unknown attribute"#),
    );
    check(
        "job \"x\" {\n  datacenter = [\"dc1\"]\n}",
        Err("job.datacenter: unknown attribute"),
    );
    check(
        &task("drivr = \"docker\""),
        Err(r#"job.group["cache"].task["redis"].drivr: unknown attribute"#),
    );
    check(
        &task("resources {\n  memroy = 256\n}"),
        Err(r#"job.group["cache"].task["redis"].resources.memroy: unknown attribute"#),
    );
    check(
        &group("restart {\n  attempt = 1\n}"),
        Err(r#"job.group["cache"].restart.attempt: unknown attribute"#),
    );
    check(
        &group("network {\n  port \"http\" { statc = 80 }\n}"),
        Err(r#"job.group["cache"].network[0].port["http"].statc: unknown attribute"#),
    );
    check(
        &group("tsk \"web\" {}"),
        Err(r#"job.group["cache"].tsk["web"]: unknown block"#),
    );
    check(
        &group("restart \"x\" {}"),
        Err(r#"job.group["cache"].restart: expected 0 block label(s), got 1"#),
    );
    check(
        "variable \"x\" {\n  defualt = 1\n}\njob \"a\" {}",
        Err(r#"variable["x"].defualt: unknown attribute"#),
    );
}

#[test]
fn nomad_features_drover_skips_are_warnings() {
    check(
        r#"
        job "example" {
          ui { description = "cache" }
          reschedule { attempts = 1 }
          group "cache" {
            max_client_disconnect = "1h"
            volume "data" {
              type   = "host"
              source = "data"
            }
            service {
              name = "web"
              check {
                type     = "http"
                path     = "/health"
                interval = "10s"
              }
            }
            scaling {
              min = 1
              max = 5
            }
            task "redis" {
              kind = "connect-proxy:web"
              template {
                data        = "{{ key \"config\" }}"
                destination = "local/config"
              }
              artifact { source = "https://example.com/app.tar.gz" }
              vault { policies = ["app"] }
              volume_mount {
                volume      = "data"
                destination = "/data"
              }
              identity { env = true }
              logs { enabled = true }
              resources {
                iops = 10
                device "nvidia/gpu" { count = 1 }
              }
            }
          }
        }
        "#,
        Ok(&[
            r#"job.ui: ignored; Drover does not support `ui` blocks yet"#,
            r#"job.reschedule: ignored; Drover does not support `reschedule` blocks yet"#,
            r#"job.group["cache"].max_client_disconnect: ignored; Drover does not support `max_client_disconnect` yet"#,
            r#"job.group["cache"].volume["data"]: ignored; Drover does not support `volume` blocks yet"#,
            r#"job.group["cache"].service: ignored; Drover does not support `service` blocks yet"#,
            r#"job.group["cache"].task["redis"].kind: ignored; Drover does not support `kind` yet"#,
            r#"job.group["cache"].task["redis"].template: ignored; Drover does not support `template` blocks yet"#,
            r#"job.group["cache"].task["redis"].artifact: ignored; Drover does not support `artifact` blocks yet"#,
            r#"job.group["cache"].task["redis"].vault: ignored; Drover does not support `vault` blocks yet"#,
            r#"job.group["cache"].task["redis"].volume_mount: ignored; Drover does not support `volume_mount` blocks yet"#,
            r#"job.group["cache"].task["redis"].identity: ignored; Drover does not support `identity` blocks yet"#,
            r#"job.group["cache"].task["redis"].logs.enabled: ignored; Drover does not support `enabled` yet"#,
            r#"job.group["cache"].task["redis"].resources.iops: ignored; Drover does not support `iops` yet"#,
            r#"job.group["cache"].task["redis"].resources.device["nvidia/gpu"]: ignored; Drover does not support `device` blocks yet"#,
        ]),
    );
    check(
        "variable \"x\" {\n  default = 1\n  validation {\n    condition = true\n    error_message = \"no\"\n  }\n}\njob \"a\" {}",
        Ok(&[r#"variable["x"].validation: ignored; Drover does not check variable validation rules yet"#]),
    );
}

#[test]
fn blocks_that_may_appear_once() {
    check(
        &task("resources { cpu = 1 }\nresources { cpu = 2 }"),
        Err(r#"job.group["cache"].task["redis"].resources: defined more than once"#),
    );
    check(
        &task("config { a = 1 }\nconfig { b = 2 }"),
        Err(r#"job.group["cache"].task["redis"].config: defined more than once"#),
    );
    check(
        &task("config {\n  mount = { a = 1 }\n  mount { b = 2 }\n}"),
        Err(r#"job.group["cache"].task["redis"].config.mount: defined more than once"#),
    );
    check(
        "variable \"x\" {}\nvariable \"x\" {}\njob \"a\" {}",
        Err(r#"variable["x"]: defined more than once"#),
    );
}

#[test]
fn dynamic_blocks_are_refused_not_dropped() {
    check(
        &group("dynamic \"task\" {\n  for_each = [\"a\"]\n  content {}\n}"),
        Err(r#"job.group["cache"].dynamic["task"]: `dynamic` blocks are not supported yet"#),
    );
    check(
        &task("config {\n  dynamic \"mount\" {\n    for_each = []\n    content {}\n  }\n}"),
        Err(
            r#"job.group["cache"].task["redis"].config.dynamic["mount"]: `dynamic` blocks are not supported yet"#,
        ),
    );
}

#[test]
fn errors_carry_path_and_kind_separately() {
    let err = parse_hcl(&group("restart {\n  interval = \"3x\"\n}")).expect_err("bad duration");
    assert_eq!(err.path, r#"job.group["cache"].restart.interval"#);
    assert!(
        matches!(&err.kind, JobspecErrorKind::InvalidDuration { value, .. } if value == "3x"),
        "{err:?}"
    );
    let source = std::error::Error::source(&err.kind).map(ToString::to_string);
    assert_eq!(
        source.as_deref(),
        Some("unknown unit \"x\" (use one of ns, us, µs, ms, s, m, h)")
    );
}
