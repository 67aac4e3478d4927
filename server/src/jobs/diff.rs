//! Nomad's job diff (nomad/structs/diff.go `Job.Diff`, contextual, as
//! `Job.Plan` asks for it; scheduler/annotate.go for `Updates` and task
//! annotations), computed by walking the JSON trees of the two jobs.
//!
//! Shape, as Nomad's:
//! - the job: its primitive fields (non-contextual: only changes), its
//!   nested objects, its task groups matched by name;
//! - a task group or task: contextual fields (unchanged ones appear as
//!   `None` once the group or task is in the diff), objects, tasks;
//! - a nested object (`Update`, `RestartPolicy`, `Resources`) is an
//!   `ObjectDiff` named by its field, present only when something in it
//!   changed;
//! - a list of objects (`Constraints`, `Affinities`, `Networks`) is a set:
//!   an element found on both sides is unchanged, others are one `Added` or
//!   `Deleted` `ObjectDiff` each, named by the singular (`Constraint`);
//! - a list of strings (`Datacenters`) is one `ObjectDiff` of added and
//!   deleted values; a map of strings (`Meta`, `Env`) flattens into fields
//!   `Meta[key]`; a task's `Config` is one `ObjectDiff` of flattened paths.
//!
//! What differs from Nomad: everything is generic, so Nomad's per-type
//! special cases are not reproduced (Nomad keys some sets by a `DiffID`,
//! e.g. services by name, where Drover compares whole elements; Nomad's
//! field names for deep structs in Config use its flatmap paths, ours are
//! `key[sub]`); an edited task is always annotated `forces create/destroy
//! update` (Nomad decides per field whether an in-place update suffices).

use std::collections::{BTreeMap, BTreeSet};

use drover_api::{
    DesiredUpdates, DiffType, FieldDiff, Job, JobDiff, ObjectDiff, TaskDiff, TaskGroupDiff,
};
use serde_json::{Map, Value};

/// Server-kept job fields Nomad leaves out of a diff, plus the task groups
/// (diffed on their own) and the job-level `Update` (Nomad copies it into
/// every group, where it is diffed).
const JOB_SKIP: &[&str] = &[
    "ID",
    "Status",
    "StatusDescription",
    "Version",
    "Stable",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
    "Update",
    "SubmitTime",
    "NomadTokenID",
    "VaultToken",
    "TaskGroups",
];
const GROUP_SKIP: &[&str] = &["Name", "Tasks"];
const TASK_SKIP: &[&str] = &["Name"];
/// Objects whose keys are user data, flattened into `Name[key]` fields.
const MAPS: &[&str] = &["Meta", "Env"];

/// The diff of `old` (`None`: a new job) against `new` (`None`: deleted).
/// `updates` are the plan's per-group counts (`Updates` of each group).
pub fn job_diff(
    old: Option<&Job>,
    new: Option<&Job>,
    updates: &BTreeMap<String, DesiredUpdates>,
) -> JobDiff {
    let old_v = old.map(to_map).unwrap_or_default();
    let new_v = new.map(to_map).unwrap_or_default();
    let (fields, objects) = object_parts(&old_v, &new_v, JOB_SKIP, false);
    let groups = named_list(&old_v, &new_v, "TaskGroups")
        .into_iter()
        .map(|(name, o, n)| group_diff(&name, o, n, updates.get(&name)))
        .collect::<Vec<_>>();
    let diff_type = match (old, new) {
        (None, Some(_)) => DiffType::Added,
        (Some(_), None) => DiffType::Deleted,
        _ if !fields.is_empty()
            || !objects.is_empty()
            || groups.iter().any(|g| g.diff_type != DiffType::None) =>
        {
            DiffType::Edited
        }
        _ => DiffType::None,
    };
    JobDiff {
        diff_type,
        id: new.or(old).map(|j| j.id.clone()).unwrap_or_default(),
        fields: non_empty(fields),
        objects: non_empty(objects),
        task_groups: non_empty(groups),
    }
}

/// The `Diffs` of `GET /v1/job/:id/versions?diffs=true` (Nomad's
/// `Job.GetJobVersions`): for `versions`, newest first, each version
/// against the one before it (the oldest gets none), or, with `against`
/// (`diff_version`), each version against that one.
pub fn version_diffs(versions: &[Job], against: Option<&Job>) -> Vec<JobDiff> {
    let none = BTreeMap::new();
    versions
        .iter()
        .enumerate()
        .filter_map(|(i, new)| {
            let old = against.or_else(|| versions.get(i + 1))?;
            Some(job_diff(Some(old), Some(new), &none))
        })
        .collect()
}

fn group_diff(
    name: &str,
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    updates: Option<&DesiredUpdates>,
) -> TaskGroupDiff {
    let (o, n) = (
        old.cloned().unwrap_or_default(),
        new.cloned().unwrap_or_default(),
    );
    let (fields, objects) = object_parts(&o, &n, GROUP_SKIP, true);
    let tasks: Vec<TaskDiff> = named_list(&o, &n, "Tasks")
        .into_iter()
        .map(|(name, o, n)| task_diff(&name, o, n))
        .collect();
    TaskGroupDiff {
        diff_type: presence_type(old, new),
        name: name.to_string(),
        fields: non_empty(fields),
        objects: non_empty(objects),
        tasks: non_empty(tasks),
        updates: updates.map(update_counts).filter(|m| !m.is_empty()),
    }
}

fn task_diff(
    name: &str,
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
) -> TaskDiff {
    let (o, n) = (
        old.cloned().unwrap_or_default(),
        new.cloned().unwrap_or_default(),
    );
    let (fields, objects) = object_parts(&o, &n, TASK_SKIP, true);
    let diff_type = presence_type(old, new);
    let annotation = match diff_type {
        DiffType::Added => Some("forces create"),
        DiffType::Deleted => Some("forces destroy"),
        DiffType::Edited => Some("forces create/destroy update"),
        DiffType::None => None,
    };
    TaskDiff {
        diff_type,
        name: name.to_string(),
        fields: non_empty(fields),
        objects: non_empty(objects),
        annotations: annotation.map(|a| vec![a.to_string()]),
    }
}

/// scheduler/annotate.go `annotateTaskGroup`: the non-zero counts by
/// Nomad's update type names.
fn update_counts(d: &DesiredUpdates) -> BTreeMap<String, u64> {
    [
        ("ignore", d.ignore),
        ("create", d.place),
        ("migrate", d.migrate),
        ("destroy", d.stop),
        ("canary", d.canary),
        ("in-place update", d.in_place_update),
        ("create/destroy update", d.destructive_update),
    ]
    .into_iter()
    .filter(|(_, n)| *n != 0)
    .map(|(k, n)| (k.to_string(), n))
    .collect()
}

/// `Added`/`Deleted` by presence; `Edited` when both differ at all.
fn presence_type(old: Option<&Map<String, Value>>, new: Option<&Map<String, Value>>) -> DiffType {
    match (old, new) {
        (None, Some(_)) => DiffType::Added,
        (Some(_), None) => DiffType::Deleted,
        (Some(o), Some(n)) if o != n => DiffType::Edited,
        _ => DiffType::None,
    }
}

fn to_map(job: &Job) -> Map<String, Value> {
    match serde_json::to_value(job) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// One named element (a group, a task) as found on each side.
type Pair<'a> = (
    String,
    Option<&'a Map<String, Value>>,
    Option<&'a Map<String, Value>>,
);

/// The elements of the list `key` on both sides, matched by `Name`, in name
/// order (Nomad sorts task groups and tasks by name).
fn named_list<'a>(
    old: &'a Map<String, Value>,
    new: &'a Map<String, Value>,
    key: &str,
) -> Vec<Pair<'a>> {
    let by_name = |m: &'a Map<String, Value>| -> BTreeMap<String, &'a Map<String, Value>> {
        let items = m.get(key).and_then(Value::as_array);
        items
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .map(|o| (o.get("Name").map(render).unwrap_or_default(), o))
            .collect()
    };
    let (o, n) = (by_name(old), by_name(new));
    let names: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    names
        .into_iter()
        .map(|name| (name.clone(), o.get(name).copied(), n.get(name).copied()))
        .collect()
}

/// The fields and nested objects of one object, skipping `skip`.
fn object_parts(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    skip: &[&str],
    contextual: bool,
) -> (Vec<FieldDiff>, Vec<ObjectDiff>) {
    let mut fields = Vec::new();
    let mut objects = Vec::new();
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for key in keys {
        if skip.contains(&key.as_str()) {
            continue;
        }
        let (o, n) = (
            old.get(key).unwrap_or(&Value::Null),
            new.get(key).unwrap_or(&Value::Null),
        );
        match kind(o, n) {
            Kind::Primitive => fields.extend(field_diff(key, &render(o), &render(n), contextual)),
            Kind::StringMap if MAPS.contains(&key.as_str()) => {
                let (o, n) = (flatten_map(key, o), flatten_map(key, n));
                fields.extend(field_diffs(&o, &n, contextual));
            }
            Kind::StringMap | Kind::Object if key == "Config" => {
                let (o, n) = (flatten_map("", o), flatten_map("", n));
                objects.extend(object_of(key, field_diffs(&o, &n, contextual), vec![]));
            }
            Kind::StringMap | Kind::Object => {
                let empty = Map::new();
                let o = o.as_object().unwrap_or(&empty);
                let n = n.as_object().unwrap_or(&empty);
                let (f, obj) = object_parts(o, n, &[], contextual);
                objects.extend(object_of(key, f, obj));
            }
            Kind::StringList => objects.extend(string_set_diff(key, o, n, contextual)),
            Kind::ObjectList => objects.extend(object_set_diff(key, o, n, contextual)),
        }
    }
    fields.sort_by(|a, b| (&a.name, &a.old).cmp(&(&b.name, &b.old)));
    objects.sort_by(|a, b| a.name.cmp(&b.name).then(b.diff_type.cmp(&a.diff_type)));
    (fields, objects)
}

enum Kind {
    Primitive,
    StringMap,
    Object,
    StringList,
    ObjectList,
}

/// What kind of value a field holds, looking at whichever side has one.
fn kind(o: &Value, n: &Value) -> Kind {
    let v = if o.is_null() { n } else { o };
    match v {
        Value::Object(m) if m.values().all(is_primitive) => Kind::StringMap,
        Value::Object(_) => Kind::Object,
        Value::Array(_) => {
            let all = o.as_array().into_iter().chain(n.as_array()).flatten();
            if all.clone().all(is_primitive) {
                Kind::StringList
            } else {
                Kind::ObjectList
            }
        }
        _ => Kind::Primitive,
    }
}

fn is_primitive(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// A primitive as Nomad's flatmap prints it; absent and null are "".
fn render(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// diff.go `fieldDiff`: `None` (kept only when contextual), or by which
/// side is empty.
fn field_diff(name: &str, old: &str, new: &str, contextual: bool) -> Option<FieldDiff> {
    let diff_type = match (old, new) {
        _ if old == new => {
            if !contextual {
                return None;
            }
            DiffType::None
        }
        ("", _) => DiffType::Added,
        (_, "") => DiffType::Deleted,
        _ => DiffType::Edited,
    };
    Some(FieldDiff {
        diff_type,
        name: name.to_string(),
        old: old.to_string(),
        new: new.to_string(),
        annotations: None,
    })
}

fn field_diffs(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    contextual: bool,
) -> Vec<FieldDiff> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let empty = String::new();
    keys.into_iter()
        .filter_map(|k| {
            let o = old.get(k).unwrap_or(&empty);
            let n = new.get(k).unwrap_or(&empty);
            field_diff(k, o, n, contextual)
        })
        .collect()
}

/// `prefix[key]` for every primitive inside `v` (`prefix` empty: `key`).
fn flatten_map(prefix: &str, v: &Value) -> BTreeMap<String, String> {
    fn walk(path: String, v: &Value, out: &mut BTreeMap<String, String>) {
        let join = |k: &str| {
            if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}[{k}]")
            }
        };
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| walk(join(k), v, out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(join(&i.to_string()), v, out)),
            Value::Null => {}
            other => {
                out.insert(path, render(other));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(prefix.to_string(), v, &mut out);
    out
}

/// diff.go `primitiveObjectDiff`: the type from the fields' types; nothing
/// when nothing changed.
fn object_of(name: &str, fields: Vec<FieldDiff>, objects: Vec<ObjectDiff>) -> Option<ObjectDiff> {
    let has = |t: DiffType| {
        fields.iter().any(|f| f.diff_type == t) || objects.iter().any(|o| o.diff_type == t)
    };
    let diff_type = if has(DiffType::Edited) || (has(DiffType::Added) && has(DiffType::Deleted)) {
        DiffType::Edited
    } else if has(DiffType::Added) {
        DiffType::Added
    } else if has(DiffType::Deleted) {
        DiffType::Deleted
    } else {
        return None;
    };
    Some(ObjectDiff {
        diff_type,
        name: name.to_string(),
        fields: non_empty(fields),
        objects: non_empty(objects),
    })
}

/// diff.go `stringSetDiff`.
fn string_set_diff(name: &str, old: &Value, new: &Value, contextual: bool) -> Option<ObjectDiff> {
    let set = |v: &Value| -> BTreeSet<String> {
        v.as_array().into_iter().flatten().map(render).collect()
    };
    let (o, n) = (set(old), set(new));
    if o == n {
        return None;
    }
    let mut fields: Vec<FieldDiff> = o
        .union(&n)
        .filter_map(|v| {
            let old = if o.contains(v) { v.as_str() } else { "" };
            let new = if n.contains(v) { v.as_str() } else { "" };
            field_diff(name, old, new, contextual)
        })
        .collect();
    fields.sort_by(|a, b| (&a.name, &a.old).cmp(&(&b.name, &b.old)));
    object_of(name, fields, vec![])
}

/// diff.go `primitiveObjectSetDiff`: elements equal on both sides are not
/// in the diff; each other element is added or deleted whole.
fn object_set_diff(key: &str, old: &Value, new: &Value, contextual: bool) -> Vec<ObjectDiff> {
    let name = singular(key);
    let items = |v: &Value| -> Vec<Value> { v.as_array().cloned().unwrap_or_default() };
    let (o, n) = (items(old), items(new));
    let empty = Map::new();
    let mut out = Vec::new();
    for item in o.iter().filter(|i| !n.contains(i)) {
        let (f, obj) = object_parts(item.as_object().unwrap_or(&empty), &empty, &[], contextual);
        out.extend(object_of(&name, f, obj));
    }
    for item in n.iter().filter(|i| !o.contains(i)) {
        let (f, obj) = object_parts(&empty, item.as_object().unwrap_or(&empty), &[], contextual);
        out.extend(object_of(&name, f, obj));
    }
    out
}

/// `Constraints` → `Constraint`, `Affinities` → `Affinity`: Nomad names
/// a set's elements by their type.
fn singular(key: &str) -> String {
    if let Some(stem) = key.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = key.strip_suffix('s') {
        stem.to_string()
    } else {
        key.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_api::{Constraint, Task, TaskGroup};

    fn job() -> Job {
        Job {
            id: "web".into(),
            priority: 50,
            datacenters: vec!["dc1".into()],
            task_groups: vec![TaskGroup {
                name: "g".into(),
                count: 1,
                tasks: vec![Task {
                    name: "t".into(),
                    driver: "raw_exec".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn diff(old: Option<&Job>, new: Option<&Job>) -> JobDiff {
        job_diff(old, new, &BTreeMap::new())
    }

    fn field<'a>(fields: &'a Option<Vec<FieldDiff>>, name: &str) -> &'a FieldDiff {
        let all = fields.as_deref().unwrap_or_default();
        all.iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} in {all:?}"))
    }

    #[test]
    fn unchanged_job_is_none() {
        let d = diff(Some(&job()), Some(&job()));
        assert_eq!(d.diff_type, DiffType::None);
        assert_eq!(d.fields, None);
        assert_eq!(d.objects, None);
        let groups = d.task_groups.unwrap();
        assert_eq!(groups[0].diff_type, DiffType::None);
    }

    #[test]
    fn server_fields_are_ignored() {
        let mut new = job();
        new.version = 3;
        new.job_modify_index = 9;
        new.submit_time = 5;
        new.status = drover_api::JobStatus::Dead;
        assert_eq!(diff(Some(&job()), Some(&new)).diff_type, DiffType::None);
    }

    #[test]
    fn edited_primitive_field() {
        let mut new = job();
        new.priority = 70;
        let d = diff(Some(&job()), Some(&new));
        assert_eq!(d.diff_type, DiffType::Edited);
        let f = field(&d.fields, "Priority");
        assert_eq!(
            (f.diff_type, f.old.as_str(), f.new.as_str()),
            (DiffType::Edited, "50", "70")
        );
        // Job-level fields are not contextual: only the change.
        assert_eq!(d.fields.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn group_fields_are_contextual_and_updates_annotated() {
        let mut new = job();
        new.task_groups[0].count = 3;
        let updates = [(
            "g".to_string(),
            DesiredUpdates {
                place: 2,
                ignore: 1,
                ..Default::default()
            },
        )]
        .into();
        let d = job_diff(Some(&job()), Some(&new), &updates);
        let g = &d.task_groups.unwrap()[0];
        assert_eq!(g.diff_type, DiffType::Edited);
        let c = field(&g.fields, "Count");
        assert_eq!(
            (c.diff_type, c.old.as_str(), c.new.as_str()),
            (DiffType::Edited, "1", "3")
        );
        let others = g.fields.as_deref().unwrap_or_default();
        assert!(others.iter().any(|f| f.diff_type == DiffType::None));
        let want: BTreeMap<String, u64> =
            [("create".to_string(), 2), ("ignore".to_string(), 1)].into();
        assert_eq!(g.updates.as_ref(), Some(&want));
    }

    #[test]
    fn added_and_deleted_jobs() {
        let d = diff(None, Some(&job()));
        assert_eq!((d.diff_type, d.id.as_str()), (DiffType::Added, "web"));
        let f = field(&d.fields, "Priority");
        assert_eq!((f.diff_type, f.new.as_str()), (DiffType::Added, "50"));
        let g = &d.task_groups.unwrap()[0];
        assert_eq!(g.diff_type, DiffType::Added);
        let t = &g.tasks.as_ref().unwrap()[0];
        assert_eq!(t.annotations, Some(vec!["forces create".to_string()]));
        assert_eq!(diff(Some(&job()), None).diff_type, DiffType::Deleted);
    }

    #[test]
    fn lists_are_sets() {
        let mut new = job();
        new.datacenters = vec!["dc2".into(), "dc1".into()];
        new.constraints = vec![Constraint {
            l_target: "${attr.kernel.name}".into(),
            r_target: "linux".into(),
            operand: "=".into(),
        }];
        let d = diff(Some(&job()), Some(&new));
        let objs = d.objects.unwrap();
        let names: Vec<(&str, DiffType)> = objs
            .iter()
            .map(|o| (o.name.as_str(), o.diff_type))
            .collect();
        assert_eq!(
            names,
            [
                ("Constraint", DiffType::Added),
                ("Datacenters", DiffType::Added)
            ]
        );
        let dc = field(&objs[1].fields, "Datacenters");
        assert_eq!((dc.diff_type, dc.new.as_str()), (DiffType::Added, "dc2"));
        let op = field(&objs[0].fields, "Operand");
        assert_eq!(op.new, "=");
    }

    #[test]
    fn groups_and_tasks_match_by_name() {
        let mut new = job();
        new.task_groups[0].tasks[0].driver = "docker".into();
        new.task_groups[0].tasks.push(Task {
            name: "u".into(),
            ..Default::default()
        });
        let mut extra = new.task_groups[0].clone();
        extra.name = "h".into();
        new.task_groups.push(extra);
        let d = diff(Some(&job()), Some(&new));
        let groups = d.task_groups.unwrap();
        let types: Vec<(&str, DiffType)> = groups
            .iter()
            .map(|g| (g.name.as_str(), g.diff_type))
            .collect();
        assert_eq!(types, [("g", DiffType::Edited), ("h", DiffType::Added)]);
        let tasks = groups[0].tasks.as_ref().unwrap();
        assert_eq!(
            (tasks[0].name.as_str(), tasks[0].diff_type),
            ("t", DiffType::Edited)
        );
        assert_eq!(
            (tasks[1].name.as_str(), tasks[1].diff_type),
            ("u", DiffType::Added)
        );
        let dr = field(&tasks[0].fields, "Driver");
        assert_eq!((dr.old.as_str(), dr.new.as_str()), ("raw_exec", "docker"));
    }

    #[test]
    fn meta_flattens_and_objects_nest() {
        let mut new = job();
        new.meta = [("owner".to_string(), "me".to_string())].into();
        new.task_groups[0].restart_policy = Some(drover_api::RestartPolicy {
            attempts: 2,
            ..Default::default()
        });
        let d = diff(Some(&job()), Some(&new));
        let m = field(&d.fields, "Meta[owner]");
        assert_eq!((m.diff_type, m.new.as_str()), (DiffType::Added, "me"));
        let g = &d.task_groups.unwrap()[0];
        let objs = g.objects.as_deref().unwrap_or_default();
        let rp = objs.iter().find(|o| o.name == "RestartPolicy").unwrap();
        assert_eq!(rp.diff_type, DiffType::Added);
        assert_eq!(field(&rp.fields, "Attempts").new, "2");
    }

    #[test]
    fn config_is_flattened() {
        let mut old = job();
        old.task_groups[0].tasks[0].config =
            [("args".to_string(), serde_json::json!(["a"]))].into();
        let mut new = old.clone();
        new.task_groups[0].tasks[0].config =
            [("args".to_string(), serde_json::json!(["b"]))].into();
        let d = diff(Some(&old), Some(&new));
        let t = &d.task_groups.unwrap()[0].tasks.clone().unwrap()[0];
        let cfg = &t.objects.as_deref().unwrap()[0];
        assert_eq!(cfg.name, "Config");
        let a = field(&cfg.fields, "args[0]");
        assert_eq!((a.old.as_str(), a.new.as_str()), ("a", "b"));
    }
}
