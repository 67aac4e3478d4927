//! Evaluation tests, grouped by theme: operators, selectors, dispositions
//! for absent values, coercion.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fixture::{check, check_kind, check_msg};
use super::{Filter, FilterError, FilterErrorKind};

#[test]
fn filter_basics() {
    check(r#"Status == "running""#, Ok(true));
    check(r#"Status == "dead""#, Ok(false));
    check(r#"Status != "dead""#, Ok(true));
    check(r#"Name == "example""#, Ok(true));
    check(r#"Status =="#, Err(9));
    check_msg(
        r#"Status =="#,
        r#"invalid filter at position 9: expected a value after "==""#,
    );
}

#[test]
fn filter_equality_strings() {
    check(r#"ID == "example-1""#, Ok(true));
    check(r#"Namespace != "default""#, Ok(false));
    check(r#"Description == """#, Ok(true));
    check(r#"Type == "service""#, Ok(true));
    check(r#"Status == "Running""#, Ok(false));
}

#[test]
fn filter_equality_integers() {
    check("Priority == 50", Ok(true));
    check("Priority != 50", Ok(false));
    check("Priority == 50.0", Ok(true));
    check("Priority == 50.5", Ok(false));
    check(r#"Priority == "50""#, Ok(true));
    check("Version == 3", Ok(true));
    check("Version == -3", Ok(false));
    check("SubmitTime == 1700000000000", Ok(true));
}

#[test]
fn filter_equality_negative_numbers() {
    check("Offset == -5", Ok(true));
    check("Offset != -5", Ok(false));
    check("Offset < 0", Ok(true));
    check("Offset > -6", Ok(true));
    check("Weights contains -2", Ok(true));
    check("-2 in Weights", Ok(true));
    check("-3 in Weights", Ok(false));
}

#[test]
fn filter_equality_floats() {
    check("Ratio == 0.75", Ok(true));
    check("Ratio != 0.75", Ok(false));
    check("Ratio == 0.7", Ok(false));
    check(r#"Ratio == "0.75""#, Ok(true));
    check("Ratio == 1", Ok(false));
}

#[test]
fn filter_equality_booleans() {
    check("Stop == false", Ok(true));
    check("Stop == true", Ok(false));
    check("Stop != true", Ok(true));
    check(r#"Stop == "false""#, Ok(true));
    check("Periodic.Enabled == true", Ok(true));
    check("Labels.canary == true", Ok(true));
    check("Labels.legacy == false", Ok(true));
}

#[test]
fn filter_ordering_numbers() {
    check("Priority > 10", Ok(true));
    check("Priority >= 50", Ok(true));
    check("Priority > 50", Ok(false));
    check("Priority < 50", Ok(false));
    check("Priority <= 50", Ok(true));
    check("Priority < 100", Ok(true));
    check("Priority<100", Ok(true));
    check("Ratio < 1", Ok(true));
    check("Ratio >= 0.75", Ok(true));
    check("Version > 2.5", Ok(true));
    check("TaskGroups.0.Count >= 3", Ok(true));
}

#[test]
fn filter_ordering_strings() {
    check(r#"Name < "f""#, Ok(true));
    check(r#"Name > "exam""#, Ok(true));
    check(r#"Name >= "example""#, Ok(true));
    check(r#"Name <= "example""#, Ok(true));
    check(r#"Name < "example""#, Ok(false));
    check(r#"Status > "Running""#, Ok(true));
}

#[test]
fn filter_ordering_errors() {
    check("Stop < true", Err(0));
    check("Datacenters > 1", Err(0));
    check("Meta >= 1", Err(0));
    check("Periodic <= 1", Err(0));
    check(r#"Priority < "high""#, Err(11));
}

#[test]
fn filter_in_list() {
    check(r#""dc1" in Datacenters"#, Ok(true));
    check(r#""dc3" in Datacenters"#, Ok(false));
    check(r#""dc3" not in Datacenters"#, Ok(true));
    check(r#""dc1" not in Datacenters"#, Ok(false));
    check("dc2 in Datacenters", Ok(true));
    check("30 in Weights", Ok(true));
    check("abc in Weights", Ok(false));
    check(r#""x" in Constraints"#, Ok(false));
}

#[test]
fn filter_contains_list() {
    check(r#"Datacenters contains "dc2""#, Ok(true));
    check(r#"Datacenters contains "dc""#, Ok(false));
    check(r#"Datacenters not contains "dc9""#, Ok(true));
    check(r#"Datacenters not contains "dc1""#, Ok(false));
    check("Payload contains 8", Ok(true));
}

#[test]
fn filter_in_mixed_json_list() {
    check(
        r#"TaskGroups.0.Tasks.0.Config.ports contains "https""#,
        Ok(true),
    );
    check("TaskGroups.0.Tasks.0.Config.ports contains 8080", Ok(true));
    check("TaskGroups.0.Tasks.0.Config.ports contains 80", Ok(false));
    check(r#""8080" in TaskGroups.0.Tasks.0.Config.ports"#, Ok(true));
}

#[test]
fn filter_in_map_keys() {
    check(r#""env" in Meta"#, Ok(true));
    check(r#""prod" in Meta"#, Ok(false));
    check(r#"Meta contains "owner""#, Ok(true));
    check(r#"Meta not contains "owner""#, Ok(false));
    check(r#""nope" not in Meta"#, Ok(true));
    check("123 in Meta", Ok(true));
    check("canary in Labels", Ok(true));
}

#[test]
fn filter_in_string() {
    check(r#""run" in Status"#, Ok(true));
    check(r#"Status contains "unn""#, Ok(true));
    check(r#"Status contains "dead""#, Ok(false));
    check(r#"Status not contains "dead""#, Ok(true));
    check(r#""" in Status"#, Ok(true));
}

#[test]
fn filter_in_errors() {
    check("Stop contains true", Err(0));
    check("5 in Priority", Err(5));
    check(r#""x" in Periodic"#, Err(7));
    check(r#"Ratio not contains "1""#, Err(0));
}

#[test]
fn filter_is_empty() {
    check("Constraints is empty", Ok(true));
    check("Datacenters is empty", Ok(false));
    check("Datacenters is not empty", Ok(true));
    check("Description is empty", Ok(true));
    check("Meta is not empty", Ok(true));
    check("TaskGroups.0.Meta is empty", Ok(true));
    check("TaskGroups.1.Meta is empty", Ok(false));
    check("Meta.blank is empty", Ok(true));
    check("Periodic is empty", Ok(false));
    check("Periodic is not empty", Ok(true));
}

#[test]
fn filter_is_empty_null_and_errors() {
    check("ParentID is empty", Ok(true));
    check("ParentID is not empty", Ok(false));
    check("Update is empty", Ok(true));
    check("Priority is empty", Err(0));
    check("Stop is not empty", Err(0));
    check("Meta.env is  not\tempty", Ok(true));
}

#[test]
fn filter_is_nil() {
    check("ParentID is nil", Ok(true));
    check("ParentID is not nil", Ok(false));
    check("Periodic is nil", Ok(false));
    check("Periodic is not nil", Ok(true));
    check("Meta.missing is nil", Ok(true));
    check("Status is nil", Ok(false));
}

#[test]
fn filter_matches() {
    check(r#"Name matches "^ex""#, Ok(true));
    check(r#"Name matches "amp""#, Ok(true));
    check(r#"Name matches "^amp""#, Ok(false));
    check(r#"Name not matches "^amp""#, Ok(true));
    check(r#"ID matches "^example-[0-9]+$""#, Ok(true));
    check(r"Periodic.Spec matches `^\*/5`", Ok(true));
    check(
        r#"TaskGroups.0.Tasks.0.Config.image matches "^nginx:""#,
        Ok(true),
    );
    check(r#"Meta.env matches "(?i)PROD""#, Ok(true));
}

#[test]
fn filter_matches_errors() {
    check(r#"Priority matches "5""#, Err(0));
    check(r#"Datacenters matches "dc""#, Err(0));
    check(r#"Name matches "(""#, Err(13));
    check(r#"Name not matches "[a-""#, Err(17));
    check_kind(r#"Name matches "(""#, 13, |k| {
        matches!(k, FilterErrorKind::InvalidRegex(_))
    });
}

#[test]
fn filter_not() {
    check(r#"not Status == "dead""#, Ok(true));
    check(r#"not Status == "running""#, Ok(false));
    check(r#"not not Status == "running""#, Ok(true));
    check(r#"not not not Status == "running""#, Ok(false));
    check(r#"not (Status == "running")"#, Ok(false));
    check(r#"not(Status == "running")"#, Ok(false));
}

#[test]
fn filter_and_or() {
    check(r#"Status == "running" and Priority == 50"#, Ok(true));
    check(r#"Status == "running" and Priority == 51"#, Ok(false));
    check(r#"Status == "dead" or Priority == 50"#, Ok(true));
    check(r#"Status == "dead" or Priority == 51"#, Ok(false));
    check("Stop == true or Stop == false and Priority == 50", Ok(true));
    check(
        "Stop == false and Priority == 50 and Version == 3 and Ratio < 1",
        Ok(true),
    );
}

#[test]
fn filter_precedence() {
    // `and` binds tighter than `or`: true or (false and false).
    check("Stop == false or Stop == true and Priority == 1", Ok(true));
    // Parentheses override it: (true or false) and false.
    check(
        "(Stop == false or Stop == true) and Priority == 1",
        Ok(false),
    );
    // `not` binds tighter than `and`: (not false) and true.
    check("not Stop == true and Priority == 50", Ok(true));
    // ...and tighter than `or`: (not true) or false.
    check("not Stop == false or Priority == 1", Ok(false));
    check("not (Stop == false or Priority == 1)", Ok(false));
}

#[test]
fn filter_parentheses() {
    check("(Priority == 50)", Ok(true));
    check("((((Priority == 50))))", Ok(true));
    check("( Priority == 50 )", Ok(true));
    check(
        "(Priority == 1 or (Stop == false and (Version == 3)))",
        Ok(true),
    );
    check("(Priority == 50) and (Version == 4)", Ok(false));
}

#[test]
fn filter_short_circuit() {
    // The right-hand side would be an error if evaluated.
    check("Priority == 50 or Nope == 1", Ok(true));
    check("Priority == 1 and Nope == 1", Ok(false));
    check("Priority == 1 or Nope == 1", Err(17));
    check("Priority == 50 and Nope == 1", Err(19));
}

#[test]
fn filter_selectors_dotted() {
    check(r#"Periodic.Spec == "*/5 * * * *""#, Ok(true));
    check(r#"Meta.env == "prod""#, Ok(true));
    check(r#"TaskGroups.0.Name == "web""#, Ok(true));
    check(r#"TaskGroups.1.Name == "db""#, Ok(true));
    check(r#"TaskGroups.0.Tasks.1.Driver == "exec""#, Ok(true));
    check("TaskGroups.1.Tasks.0.Resources.MemoryMB == 2048", Ok(true));
    check("TaskGroups.0.Tasks.0.Resources.CPU > 499", Ok(true));
}

#[test]
fn filter_selectors_indexed() {
    check(r#"Meta["env"] == "prod""#, Ok(true));
    check(r#"Meta[ "env" ] == "prod""#, Ok(true));
    check(r#"Meta["a b"] == "spaced""#, Ok(true));
    check(r#"Meta[`a b`] == "spaced""#, Ok(true));
    check(r#"Meta["quote\"d"] == "yes""#, Ok(true));
    check(r#"Meta.123 == "numeric""#, Ok(true));
    check(r#"Meta["123"] == "numeric""#, Ok(true));
    check(r#"TaskGroups["1"].Name == "db""#, Ok(true));
    check(
        r#"TaskGroups.0.Tasks.0.Config["image"] == "nginx:1.25""#,
        Ok(true),
    );
}

#[test]
fn filter_selector_list_index_bounds() {
    check(r#"TaskGroups.5.Name == "web""#, Ok(false));
    check(r#"TaskGroups.5.Name != "web""#, Ok(true));
    check(
        r#"TaskGroups.99999999999999999999999.Name == "x""#,
        Ok(false),
    );
    check(r#"Datacenters.1 == "dc2""#, Ok(true));
    check(r#"Datacenters.2 is empty"#, Ok(true));
    check(r#"Datacenters.01 == "dc2""#, Ok(true));
    check(
        r#"TaskGroups.1.Name == "db" and TaskGroups.01.Count == 1"#,
        Ok(true),
    );
}

#[test]
fn filter_selector_errors() {
    check(r#"TaskGroups.Name == "web""#, Err(11));
    check(r#"Status.Foo == "x""#, Err(7));
    check(r#"Priority.0 == 1"#, Err(9));
    check(r#"Datacenters["x"] == 1"#, Err(12));
    check(r#"Meta.env.x == 1"#, Err(9));
}

#[test]
fn filter_unknown_fields() {
    check(r#"Stauts == "running""#, Err(0));
    check(r#"Periodic.Nope == 1"#, Err(9));
    check(r#"TaskGroups.0.Tasks.0.Resources.GPU > 1"#, Err(31));
    check(r#"Status == "running" and Bogus is empty"#, Err(24));
    check_msg(
        "Stauts == 1",
        r#"invalid filter at position 0: unknown field "Stauts""#,
    );
}

#[test]
fn filter_serde_shapes() {
    // Skipped by skip_serializing_if: known, but not present.
    check("Dispatched == true", Ok(false));
    check("Dispatched is empty", Ok(true));
    // Unit enum variants compare by name.
    check("Scheduler == Batch", Ok(true));
    check(r#"Scheduler == "Service""#, Ok(false));
    // Unit and None walk as null.
    check("Unit is empty", Ok(true));
    check("ParentID.Foo == 1", Ok(false));
    check("Update.Spec != 1", Ok(true));
}

#[test]
fn filter_missing_map_key_dispositions() {
    check(r#"Meta.nope == "x""#, Ok(false));
    check(r#"Meta.nope != "x""#, Ok(true));
    check("Meta.nope < 1", Ok(false));
    check("Meta.nope <= 1", Ok(false));
    check("Meta.nope > 1", Ok(false));
    check("Meta.nope >= 1", Ok(false));
    check(r#""x" in Meta.nope"#, Ok(false));
    check(r#""x" not in Meta.nope"#, Ok(true));
    check(r#"Meta.nope contains "x""#, Ok(false));
    check(r#"Meta.nope not contains "x""#, Ok(true));
    check("Meta.nope is empty", Ok(true));
    check("Meta.nope is not empty", Ok(false));
    check(r#"Meta.nope matches ".*""#, Ok(false));
    check(r#"Meta.nope not matches ".*""#, Ok(true));
    check(r#"Meta.nope.deeper == "x""#, Ok(false));
}

#[test]
fn filter_null_dispositions() {
    check(r#"ParentID == "x""#, Ok(false));
    check(r#"ParentID != "x""#, Ok(true));
    check("ParentID < 1", Ok(false));
    check(r#"ParentID matches ".*""#, Ok(false));
    check(r#"ParentID not matches ".*""#, Ok(true));
    check(r#""x" in ParentID"#, Ok(false));
    check(r#""x" not in ParentID"#, Ok(true));
}

#[test]
fn filter_bare_words() {
    check("Status == running", Ok(true));
    check("Status != running", Ok(false));
    check("Meta.env == prod", Ok(true));
    check("Scheduler == Batch", Ok(true));
    check("Periodic.Enabled == true", Ok(true));
    check("Meta.env == prod.v2", Ok(false));
    check("prod in Meta.env", Ok(true));
    check("Status == running and Meta.owner == team_a", Ok(false));
}

#[test]
fn filter_number_literal_against_strings() {
    check("Meta.123 == numeric", Ok(true));
    check(r#"Name == 5"#, Ok(false));
    check(r#"Meta.owner != 5"#, Ok(true));
    check("ID == 1", Ok(false));
}

#[test]
fn filter_coercion_errors() {
    check("Stop == yes", Err(8));
    check(r#"Stop == "maybe""#, Err(8));
    check("Priority == high", Err(12));
    check(r#"Ratio != "x""#, Err(9));
    check("Version == abc", Err(11));
    check_msg(
        "Stop == yes",
        r#"invalid filter at position 8: cannot compare a boolean field with "yes""#,
    );
}

#[test]
fn filter_unsupported_operands() {
    check("Datacenters == 1", Err(0));
    check("Meta != 1", Err(0));
    check("TaskGroups.0 == 1", Err(0));
    check(r#"  Periodic == "x""#, Err(2));
    check_kind("Meta == 1", 0, |k| {
        matches!(
            k,
            FilterErrorKind::UnsupportedOperand {
                op: "==",
                kind: "a map"
            }
        )
    });
}

#[test]
fn filter_serialize_errors() {
    #[derive(Serialize)]
    struct Bad {
        #[serde(rename = "M")]
        m: BTreeMap<(u8, u8), u8>,
    }
    let bad = Bad {
        m: [((1, 2), 3)].into_iter().collect(),
    };
    let f = Filter::parse("M is empty").unwrap();
    let err = f.matches(&bad).unwrap_err();
    assert!(matches!(err.kind, FilterErrorKind::Serialize(_)), "{err}");
    // Not selected by the filter, so the projection never looks at it.
    #[derive(Serialize)]
    struct Fine {
        #[serde(rename = "A")]
        a: u8,
        #[serde(rename = "M")]
        m: BTreeMap<(u8, u8), u8>,
    }
    let fine = Fine {
        a: 1,
        m: [((1, 2), 3)].into_iter().collect(),
    };
    assert_eq!(Filter::parse("A == 1").unwrap().matches(&fine), Ok(true));
}

#[test]
fn filter_other_roots() {
    let map: BTreeMap<&str, i32> = [("a", 1), ("b", 2)].into_iter().collect();
    let f = |s: &str| Filter::parse(s).unwrap();
    assert_eq!(f("a == 1").matches(&map), Ok(true));
    assert_eq!(f("c == 1").matches(&map), Ok(false));
    assert_eq!(f("c != 1").matches(&map), Ok(true));
    let json = serde_json::json!({"Name": "x", "Tags": ["a", "b"], "N": 1.5});
    assert_eq!(
        f(r#"Name == "x" and "b" in Tags and N > 1"#).matches(&json),
        Ok(true)
    );
    assert_eq!(f("Missing == 1").matches(&json), Ok(false));
    let f32s = vec![0.1f32, 2.5];
    assert_eq!(
        f("0.1 in Items").matches(&[("Items", f32s)].into_iter().collect::<BTreeMap<_, _>>()),
        Ok(true)
    );
    let unsized_root: &[u32] = &[1, 2, 3];
    assert_eq!(
        f("x is empty").matches(unsized_root),
        Err(FilterError {
            pos: 0,
            kind: FilterErrorKind::NotIndexable {
                segment: "x".to_owned(),
                kind: "a list"
            },
        })
    );
}
