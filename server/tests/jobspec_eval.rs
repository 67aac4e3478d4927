//! The expression side of job specs: Go durations, runtime interpolations
//! that must reach the client untouched, HCL2 variables and locals, and
//! the expressions the parser evaluates or refuses. Same `check` as in
//! `jobspec.rs`: values at JSON pointers, or the exact error message.

use drover_server::jobspec::{parse_go_duration, parse_hcl_with_variables};
use serde_json::{json, Value};

/// Parses `src` (with `vars` as the Variables text) and checks either the
/// values at the given JSON pointers or the exact error message.
#[track_caller]
fn check_with(src: &str, vars: &str, want: Result<&[(&str, Value)], &str>) {
    let got = parse_hcl_with_variables(src, vars);
    match (got, want) {
        (Ok(parsed), Ok(fields)) => {
            let job = serde_json::to_value(&parsed.job).expect("a Job always serializes");
            for (pointer, want) in fields {
                let got = job.pointer(pointer).unwrap_or(&Value::Null);
                assert_eq!(got, want, "at {pointer} in\n{src}");
            }
        }
        (Ok(parsed), Err(want)) => panic!("expected error {want:?}, parsed {:#?}", parsed.job),
        (Err(err), Ok(_)) => panic!("unexpected error: {err}\nin\n{src}"),
        (Err(err), Err(want)) => assert_eq!(err.to_string(), want, "in\n{src}"),
    }
}

#[track_caller]
fn check(src: &str, want: Result<&[(&str, Value)], &str>) {
    check_with(src, "", want)
}

fn job(body: &str) -> String {
    format!("job \"example\" {{\n{body}\n}}\n")
}

fn group(body: &str) -> String {
    job(&format!("group \"cache\" {{\n{body}\n}}"))
}

fn task(body: &str) -> String {
    group(&format!("task \"redis\" {{\n{body}\n}}"))
}

#[test]
fn go_durations_table() {
    const S: i64 = 1_000_000_000;
    let table: &[(&str, Option<i64>)] = &[
        ("30s", Some(30 * S)),
        ("1h30m", Some(5400 * S)),
        ("250ms", Some(250_000_000)),
        ("1.5h", Some(5400 * S)),
        ("2h45m10s", Some(9910 * S)),
        ("-1m", Some(-60 * S)),
        ("+1m", Some(60 * S)),
        ("10us", Some(10_000)),
        ("10µs", Some(10_000)),
        ("7ns", Some(7)),
        ("0", Some(0)),
        ("", None),
        ("3x", None),
        ("10", None),
        ("1d", None),
        ("h", None),
        ("9223372036854775808ns", None),
    ];
    for (input, want) in table {
        assert_eq!(parse_go_duration(input).ok(), *want, "{input:?}");
    }
    // In a spec: strings are Go durations, numbers are nanoseconds.
    check(
        &task("kill_timeout = 1500"),
        Ok(&[("/TaskGroups/0/Tasks/0/KillTimeout", json!(1500))]),
    );
    check(
        &group("restart {\ninterval = \"3x\"\n}"),
        Err(r#"job.group["cache"].restart.interval: invalid duration "3x""#),
    );
    check(
        &task("kill_timeout = true"),
        Err(
            r#"job.group["cache"].task["redis"].kill_timeout: expected a duration string such as "30s", got a bool"#,
        ),
    );
}

#[test]
fn runtime_interpolations_survive() {
    let cases = [
        "plain",
        "foo-${BAR}",
        "${NOMAD_PORT_http}",
        "foo-${attr.network.dev-us-east1-relay-vpc.external-ip.0}",
        r#"${env["HOME"]}"#,
        r#"with spaces ${   root.  field[  "FOO"].5  }"#,
        "${meta.rack}:${node.unique.name}",
    ];
    for case in cases {
        check(
            &job(&format!("region = \"{case}\"")),
            Ok(&[("/Region", json!(case))]),
        );
    }
    // Unquoted references are wrapped, as Nomad does.
    check(
        &job("region = meta.mytest"),
        Ok(&[("/Region", json!("${meta.mytest}"))]),
    );
    // `$${` is HCL's escape for a literal `${`; escapes decode around interpolations.
    check(
        &job(r#"region = "$${x} \"${y}\"\t""#),
        Ok(&[("/Region", json!("${x} \"${y}\"\t"))]),
    );
    check(
        &task("config {\nscript = <<EOT\n#!/bin/sh\necho ${NOMAD_ALLOC_DIR} \\n $${HOME}\nEOT\n}"),
        Ok(&[(
            "/TaskGroups/0/Tasks/0/Config/script",
            json!("#!/bin/sh\necho ${NOMAD_ALLOC_DIR} \\n ${HOME}\n"),
        )]),
    );
}

#[test]
fn variables_defaults_values_and_locals() {
    let src = r#"
        variable "image" { default = "redis:7" }
        variable "replicas" {
          type    = number
          default = 2
        }
        variable "region" {}
        variables { dcs = ["dc1", "dc2"] }
        locals {
          name  = "${local.prefix}-cache"
          prefix = "team"
        }
        job "example" {
          region      = var.region
          datacenters = var.dcs
          meta { name = local.name }
          group "cache" {
            count = var.replicas * 2
            task "redis" {
              config {
                image = var.image
                args  = ["--name", "${var.image}@${NOMAD_ALLOC_ID}", "${var.dcs[1]}"]
              }
            }
          }
        }
    "#;
    check_with(
        src,
        "region = \"eu\"\nimage = \"redis:8\"",
        Ok(&[
            ("/Region", json!("eu")),
            ("/Datacenters", json!(["dc1", "dc2"])),
            ("/Meta/name", json!("team-cache")),
            ("/TaskGroups/0/Count", json!(4)),
            ("/TaskGroups/0/Tasks/0/Config/image", json!("redis:8")),
            (
                "/TaskGroups/0/Tasks/0/Config/args",
                json!(["--name", "redis:8@${NOMAD_ALLOC_ID}", "dc2"]),
            ),
        ]),
    );
    check_with(
        src,
        "",
        Err(
            r#"variable["region"]: unset variable "region": it has no default and no value was given"#,
        ),
    );
    check_with(
        src,
        "region = \"eu\"\nzone = \"a\"",
        Err(
            r#"variables.zone: variable "zone" is given a value but not declared; add a `variable "zone" {}` block"#,
        ),
    );
    check(
        &job("region = var.nope"),
        Err(
            r#"job.region: unknown variable `var.nope`; declare it with a `variable "nope"` block"#,
        ),
    );
    check(
        "locals {\na = local.b\nb = local.a\n}\njob \"x\" {}",
        Err("locals.a: unknown local `local.b`; declare it with a `locals` block"),
    );
}

#[test]
fn expressions_beyond_literals() {
    check(
        &job(r#"
            priority    = (10 + 5) * 4 - 10 / 2
            all_at_once = 3 > 2 && !false
            region      = 1 == 1.0 ? "yes" : "no"
        "#),
        Ok(&[
            ("/Priority", json!(55)),
            ("/AllAtOnce", json!(true)),
            ("/Region", json!("yes")),
        ]),
    );
    check(
        &job(r#"region = upper("eu")"#),
        Err("job.region: function calls are not supported yet: upper(...)"),
    );
    check(
        &job(r#"datacenters = [for s in ["a"] : s]"#),
        Err("job.datacenters: `for` expressions are not supported yet"),
    );
    check(
        &job(r#"region = "%{ if true }eu%{ endif }""#),
        Err("job.region: template directives (`%{ if }`, `%{ for }`) are not supported yet"),
    );
    check(
        &job("priority = 1 / 0"),
        Err("job.priority: division by zero"),
    );
}
