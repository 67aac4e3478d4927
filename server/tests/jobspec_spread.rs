//! `spread` blocks at job and group level, checked through the JSON Drover
//! serves (Nomad's wire names `Spreads`, `SpreadTarget`, `Percent`).

use drover_server::jobspec::parse_hcl;
use serde_json::{json, Value};

/// Parses `src` and checks either the values at the given JSON pointers or
/// the exact error message.
#[track_caller]
fn check(src: &str, want: Result<&[(&str, Value)], &str>) {
    match (parse_hcl(src), want) {
        (Ok(parsed), Ok(fields)) => {
            assert!(
                parsed.warnings.is_empty(),
                "warnings: {:?}",
                parsed.warnings
            );
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

fn job(body: &str) -> String {
    format!("job \"example\" {{\n{body}\ngroup \"cache\" {{\ntask \"redis\" {{\ndriver = \"docker\"\n}}\n}}\n}}\n")
}

fn group(body: &str) -> String {
    format!("job \"example\" {{\ngroup \"cache\" {{\n{body}\ntask \"redis\" {{\ndriver = \"docker\"\n}}\n}}\n}}\n")
}

#[test]
fn spread_at_job_level() {
    check(
        &job(r#"
            spread {
              attribute = "${node.datacenter}"
              weight    = 100
              target "dc1" { percent = 50 }
              target "dc2" { percent = 30 }
            }
            spread { attribute = "${meta.rack}" }
        "#),
        Ok(&[
            (
                "/Spreads",
                json!([
                    {
                        "Attribute": "${node.datacenter}",
                        "Weight": 100,
                        "SpreadTarget": [
                            {"Value": "dc1", "Percent": 50},
                            {"Value": "dc2", "Percent": 30},
                        ],
                    },
                    // Unwritten weight stays 0 (canonicalization's default).
                    {"Attribute": "${meta.rack}", "Weight": 0, "SpreadTarget": []},
                ]),
            ),
            ("/TaskGroups/0/Spreads", json!([])),
        ]),
    );
}

#[test]
fn spread_at_group_level() {
    check(
        &group(
            r#"
            spread {
              attribute = "${attr.kernel.name}"
              weight    = 25
              target "linux" {}
            }
        "#,
        ),
        Ok(&[
            ("/Spreads", json!([])),
            (
                "/TaskGroups/0/Spreads",
                json!([{
                    "Attribute": "${attr.kernel.name}",
                    "Weight": 25,
                    "SpreadTarget": [{"Value": "linux", "Percent": 0}],
                }]),
            ),
        ]),
    );
}

#[test]
fn spread_errors() {
    check(
        &job("spread {\nweight = 300\n}"),
        Err("job.spread[0].weight: number 300 is out of range"),
    );
    check(
        &group("spread {\ntarget \"dc1\" { percent = 256 }\n}"),
        Err(r#"job.group["cache"].spread[0].target["dc1"].percent: number 256 is out of range"#),
    );
    check(
        &group("spread {\ntarget \"dc1\" { percent = -1 }\n}"),
        Err(r#"job.group["cache"].spread[0].target["dc1"].percent: number -1 is out of range"#),
    );
    check(
        &job("spread {\ntarget { percent = 5 }\n}"),
        Err("job.spread[0].target: expected 1 block label(s), got 0"),
    );
    check(
        &job("spread {\nattribute = \"x\"\nvalue = \"y\"\n}"),
        Err("job.spread[0].value: unknown attribute"),
    );
    check(
        &job("spread {\ntarget \"a\" { weight = 1 }\n}"),
        Err(r#"job.spread[0].target["a"].weight: unknown attribute"#),
    );
    check(
        &job("spread \"x\" {}"),
        Err("job.spread[0]: expected 0 block label(s), got 1"),
    );
}
