//! Whole-state snapshots: MessagePack with field names
//! (`rmp_serde::to_vec_named`), so a field added later with
//! `#[serde(default)]` still reads old snapshots. Derived indexes are not
//! written; they are rebuilt on restore, so they cannot disagree with rows.

use drover_api::Topic;
use serde::{Deserialize, Serialize};

use crate::command::ClusterMetadata;
use crate::events::{EventLog, EventRetention, LogWithRows, Object};
use crate::tables::Tables;
use crate::State;
use crate::{Join, Sequential};

/// Bumped only for an incompatible change of the snapshot layout.
/// 2: retained events hold their payload encoded, as a binary
/// (`events.rs`). 3: a job version that is its job's current row is
/// written as `nil`, not as a second copy. Formats 1 and 2 still restore;
/// 4: a retained event that shares the stored row of its job, evaluation or
/// deployment names it (`row`) instead of holding a second encoding
/// (`events/codec.rs`), so writing a snapshot does not encode those rows
/// twice and restoring one neither decodes nor compares them.
/// Formats 1 to 3 still restore; a build restores no format newer than its
/// own.
const FORMAT: u32 = 4;
/// The oldest format `restore` reads.
const OLDEST_FORMAT: u32 = 1;

#[derive(Serialize)]
#[serde(bound = "")]
struct SnapshotRef<'a, F: Fn(Topic, &str, &str, u64) -> Option<Object>> {
    format: u32,
    last_index: u64,
    restored_at: u64,
    tables: &'a Tables,
    events: LogWithRows<'a, F>,
    /// Added within format 3: older snapshots have none, and older
    /// builds ignore it.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a ClusterMetadata>,
}

#[derive(Deserialize)]
struct SnapshotOwned {
    format: u32,
    last_index: u64,
    #[serde(default)]
    restored_at: u64,
    tables: Tables,
    events: EventLog,
    #[serde(default)]
    cluster: Option<ClusterMetadata>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot is not valid MessagePack for this version: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    #[error("snapshot could not be encoded: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("snapshot format {found} is not supported (this build reads formats {OLDEST_FORMAT} to {FORMAT})")]
    Format { found: u32 },
    #[error("snapshot is damaged: {0}")]
    Damaged(String),
}

impl State {
    fn snapshot_ref(
        &self,
    ) -> SnapshotRef<'_, impl Fn(Topic, &str, &str, u64) -> Option<Object> + '_> {
        let tables = &self.tables;
        SnapshotRef {
            format: FORMAT,
            last_index: self.last_index,
            restored_at: self.restored_at,
            tables,
            events: LogWithRows {
                log: &self.events,
                row: move |topic, ns: &str, key: &str, index| {
                    tables.row_written_at(topic, ns, key, index)
                },
            },
            cluster: self.cluster.as_ref(),
        }
    }

    /// Serialize the whole state.
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        Ok(rmp_serde::to_vec_named(&self.snapshot_ref())?)
    }

    /// Serialize the whole state into `w` as it is encoded (the same bytes
    /// as [`State::snapshot`]), so a large state never sits in memory twice.
    pub fn snapshot_to<W: std::io::Write>(&self, w: &mut W) -> Result<(), SnapshotError> {
        Ok(rmp_serde::encode::write_named(w, &self.snapshot_ref())?)
    }

    /// The parts in which `self` and `other` differ, by name (`"jobs"`,
    /// `"events"`, `"last_index"`, ...); empty when the states are equal.
    /// For tests that expect two servers to hold the same state: naming the
    /// table that differs says more than two dumps of every row.
    pub fn differences(&self, other: &State) -> Vec<&'static str> {
        let (a, b) = (&self.tables, &other.tables);
        [
            ("jobs", a.jobs == b.jobs),
            ("job_versions", a.job_versions == b.job_versions),
            ("job_summaries", a.job_summaries == b.job_summaries),
            ("evals", a.evals == b.evals),
            ("allocs", a.allocs == b.allocs),
            ("nodes", a.nodes == b.nodes),
            ("indexes", a.indexes == b.indexes),
            ("key_indexes", a.key_indexes == b.key_indexes),
            ("scheduler_config", a.scheduler_config == b.scheduler_config),
            ("autopilot_config", a.autopilot_config == b.autopilot_config),
            ("deployments", a.deployments == b.deployments),
            (
                "periodic_launches",
                a.periodic_launches == b.periodic_launches,
            ),
            ("namespaces", a.namespaces == b.namespaces),
            ("acl", a.acl == b.acl),
            ("derived indexes", a.ix == b.ix),
            ("events", self.events == other.events),
            ("last_index", self.last_index == other.last_index),
            ("restored_at", self.restored_at == other.restored_at),
            ("cluster", self.cluster == other.cluster),
        ]
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(name, _)| name)
        .collect()
    }

    /// Rebuild a state from [`State::snapshot`] bytes. Garbage is an error,
    /// never a panic.
    pub fn restore(bytes: &[u8], retention: EventRetention) -> Result<State, SnapshotError> {
        State::restore_with(bytes, retention, &Sequential)
    }

    /// [`State::restore`], rebuilding the derived indexes in two halves
    /// that `join` may run at once.
    pub fn restore_with(
        bytes: &[u8],
        retention: EventRetention,
        join: &impl Join,
    ) -> Result<State, SnapshotError> {
        let snap: SnapshotOwned = rmp_serde::from_slice(bytes)?;
        if !(OLDEST_FORMAT..=FORMAT).contains(&snap.format) {
            return Err(SnapshotError::Format { found: snap.format });
        }
        let mut tables = snap.tables;
        tables.rebuild_with(join);
        let mut events = snap.events;
        let row = |topic, ns: &str, key: &str, index| tables.row_written_at(topic, ns, key, index);
        events
            .resolve_rows(tables.shareable_rows())
            .map_err(SnapshotError::Damaged)?;
        events.set_retention(retention);
        if snap.format < 4 {
            // Written with every payload: share what still encodes the same.
            events.share_rows(row);
        }
        Ok(State {
            tables,
            events,
            last_index: snap.last_index,
            restored_at: snap.restored_at,
            cluster: snap.cluster,
        })
    }
}

#[cfg(test)]
mod tests {
    //! Serialized types are promises: format 1 snapshots, whose events hold
    //! whole objects, restore to the state that wrote them.

    use drover_api::*;
    use serde::Serialize;

    use super::*;
    use crate::command::*;
    use crate::Command;

    const T0: i64 = 1_700_000_000_000_000_000;

    // Format 1's event log, as it was serialized (`EventLog`, `EventBatch`
    // and `LoggedEvent` with derived `Serialize`).
    #[derive(Serialize)]
    struct SnapshotV1<'a> {
        format: u32,
        last_index: u64,
        tables: &'a Tables,
        events: EventLogV1,
    }
    #[derive(Serialize)]
    struct EventLogV1 {
        batches: Vec<EventBatchV1>,
        event_count: usize,
        compacted_through: u64,
    }
    #[derive(Serialize)]
    struct EventBatchV1 {
        index: u64,
        time: i64,
        events: Vec<LoggedEventV1>,
    }
    #[derive(Serialize)]
    struct LoggedEventV1 {
        event_type: String,
        payload: EventPayload,
    }

    fn v1_snapshot(st: &State) -> Vec<u8> {
        let batches: Vec<EventBatchV1> = st
            .events
            .read_from(0)
            .unwrap()
            .map(|b| EventBatchV1 {
                index: b.index,
                time: b.time,
                events: b
                    .events
                    .iter()
                    .map(|e| LoggedEventV1 {
                        event_type: e.event_type().to_string(),
                        payload: e.payload().unwrap(),
                    })
                    .collect(),
            })
            .collect();
        rmp_serde::to_vec_named(&SnapshotV1 {
            format: 1,
            last_index: st.last_index,
            tables: &st.tables,
            events: EventLogV1 {
                event_count: batches.iter().map(|b| b.events.len()).sum(),
                batches,
                compacted_through: st.events.oldest_readable() - 1,
            },
        })
        .unwrap()
    }

    /// Every kind of event: a job and its evaluation, a node, an allocation
    /// placed and updated.
    fn busy_state(retention: EventRetention) -> State {
        let job = Job {
            namespace: "default".into(),
            id: "web".into(),
            name: "web".into(),
            region: "global".into(),
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
            submit_time: T0,
            ..Default::default()
        };
        let eval = Evaluation {
            id: "e1".into(),
            namespace: "default".into(),
            job_id: "web".into(),
            status: EvalStatus::Pending,
            ..Default::default()
        };
        let node = Node {
            id: "n1".into(),
            secret_id: "secret".into(),
            datacenter: "dc1".into(),
            status: NodeStatus::Ready,
            ..Default::default()
        };
        let alloc = Allocation {
            id: "a1".into(),
            namespace: "default".into(),
            eval_id: "e1".into(),
            node_id: "n1".into(),
            job_id: "web".into(),
            task_group: "g".into(),
            deployment_id: "d1".into(),
            ..Default::default()
        };
        let cmds = [
            Command::NodeRegister(NodeRegister {
                node,
                evals: vec![],
                now: T0,
            }),
            Command::JobRegister(JobRegister {
                job,
                eval: Some(eval),
                enforce_index: None,
                now: T0 + 1,
            }),
            Command::ApplyPlanResults(ApplyPlanResults {
                deployment: None,
                deployment_updates: Vec::new(),
                namespace: "default".into(),
                job_id: "web".into(),
                job_version: 0,
                placed: vec![alloc],
                stopped: vec![],
                preempted: vec![],
                followups: vec![],
                evals: vec![],
                now: T0 + 2,
            }),
            Command::AllocClientUpdate(AllocClientUpdate {
                updates: vec![AllocClientState {
                    id: "a1".into(),
                    client_status: AllocClientStatus::Running,
                    client_description: String::new(),
                    task_states: SmallMap::new(),
                    deployment_status: None,
                }],
                evals: vec![],
                now: T0 + 3,
            }),
        ];
        let mut st = State::new(retention);
        for (i, c) in cmds.iter().enumerate() {
            let applied = st.apply(i as u64 + 1, c);
            assert!(applied.result.is_ok(), "{c:?}: {applied:?}");
        }
        st
    }

    fn current_is_shared(st: &State, id: &str) -> bool {
        let key = ("default".to_string(), id.to_string());
        let job = &st.tables.jobs[&key];
        let vkey = (key.0, key.1, job.create_index, job.version);
        std::sync::Arc::ptr_eq(job, &st.tables.job_versions[&vkey])
    }

    #[test]
    fn a_restored_job_and_its_current_version_are_one_object_again() {
        let mut st = busy_state(EventRetention::default());
        let mut idle = st.tables.jobs[&("default".to_string(), "web".to_string())]
            .as_ref()
            .clone();
        idle.id = "idle".into();
        idle.name = "idle".into();
        let cmd = Command::JobRegister(JobRegister {
            job: idle,
            eval: None,
            enforce_index: None,
            now: T0 + 4,
        });
        assert!(st.apply(5, &cmd).result.is_ok());
        // "web" runs an allocation, so its status moved on from the version
        // it registered; "idle" is exactly its version.
        assert!(current_is_shared(&st, "idle") && !current_is_shared(&st, "web"));

        let back = State::restore(&st.snapshot().unwrap(), EventRetention::default()).unwrap();
        assert!(current_is_shared(&back, "idle"));
        assert!(!current_is_shared(&back, "web"));
        assert_eq!(back, st);

        // Format 2 wrote the current version whole: an equal copy is
        // shared again on restore.
        let mut old = st.clone();
        let key = ("default".to_string(), "idle".to_string());
        let copy = std::sync::Arc::new(old.tables.jobs[&key].as_ref().clone());
        old.tables.jobs.insert(key, copy);
        assert!(!current_is_shared(&old, "idle"));
        old.tables.rebuild_with(&Sequential);
        assert!(current_is_shared(&old, "idle"));
    }

    #[test]
    fn a_current_version_is_written_once() {
        let no_events = EventRetention {
            max_events: 0,
            ..EventRetention::default()
        };
        let st = busy_state(no_events);
        let mut idle = st.clone();
        let job = idle.tables.jobs[&("default".to_string(), "web".to_string())]
            .as_ref()
            .clone();
        for i in 0..20 {
            let mut j = job.clone();
            j.id = format!("idle-{i}");
            let cmd = Command::JobRegister(JobRegister {
                job: j,
                eval: None,
                enforce_index: None,
                now: T0 + 10 + i,
            });
            assert!(idle.apply(10 + i as u64, &cmd).result.is_ok());
        }
        let with = idle.snapshot().unwrap().len() - st.snapshot().unwrap().len();
        let one_job = rmp_serde::to_vec_named(&job).unwrap().len();
        // Twenty jobs, each written once (plus its summary).
        assert!(
            with < 20 * one_job * 3 / 2,
            "{with} bytes for 20 jobs of {one_job}"
        );
        let back = State::restore(&idle.snapshot().unwrap(), no_events).unwrap();
        assert_eq!(back, idle);
    }

    /// The job's own encoding, and how often it occurs in `bytes`.
    fn occurrences(bytes: &[u8], job: &Job) -> usize {
        let one = rmp_serde::to_vec_named(job).unwrap();
        bytes
            .windows(one.len())
            .filter(|w| *w == one.as_slice())
            .count()
    }

    #[test]
    fn an_event_sharing_its_row_is_written_as_a_reference_and_shared_again() {
        let st = busy_state(EventRetention::default());
        let key = ("default".to_string(), "idle".to_string());
        let mut st = st;
        let mut idle = st.tables.jobs[&("default".to_string(), "web".to_string())]
            .as_ref()
            .clone();
        idle.id = "idle".into();
        let cmd = Command::JobRegister(JobRegister {
            job: idle,
            eval: None,
            enforce_index: None,
            now: T0 + 4,
        });
        assert!(st.apply(5, &cmd).result.is_ok());
        let job = std::sync::Arc::clone(&st.tables.jobs[&key]);
        let bytes = st.snapshot().unwrap();
        // In the table once; the event names the row instead of a copy.
        assert_eq!(occurrences(&bytes, &job), 1);
        let back = State::restore(&bytes, EventRetention::default()).unwrap();
        assert_eq!(back, st);
        let batch = back.events.read_from(5).unwrap().next().unwrap();
        let event = batch.events.iter().find(|e| e.key() == "idle").unwrap();
        assert!(event.is_shared(), "{event:?}");
        assert_eq!(back.snapshot().unwrap(), bytes);
    }

    #[test]
    fn a_reference_to_a_row_the_snapshot_lacks_is_an_error() {
        let st = busy_state(EventRetention::default());
        // The events of `st`, written against the rows of `st`, beside
        // tables that hold none of them.
        let bytes = rmp_serde::to_vec_named(&SnapshotRef {
            format: FORMAT,
            last_index: st.last_index,
            restored_at: 0,
            tables: &Tables::default(),
            events: LogWithRows {
                log: &st.events,
                row: |topic, ns: &str, key: &str, index| {
                    st.tables.row_written_at(topic, ns, key, index)
                },
            },
            cluster: None,
        })
        .unwrap();
        let err = State::restore(&bytes, EventRetention::default()).unwrap_err();
        assert!(
            matches!(&err, SnapshotError::Damaged(m) if m.contains("at index 2 names a row")),
            "{err}"
        );
    }

    #[test]
    fn format_1_snapshots_restore_to_the_state_that_wrote_them() {
        let st = busy_state(EventRetention::default());
        let topics: Vec<Topic> = st
            .events
            .read_from(0)
            .unwrap()
            .flat_map(|b| b.events.iter().map(|e| e.topic()))
            .collect();
        for t in [
            Topic::Job,
            Topic::Evaluation,
            Topic::Node,
            Topic::Allocation,
        ] {
            assert!(topics.contains(&t), "{t:?} in {topics:?}");
        }
        let old = v1_snapshot(&st);
        let restored = State::restore(&old, EventRetention::default()).unwrap();
        assert_eq!(restored, st);
        assert_eq!(
            restored.snapshot().unwrap(),
            st.snapshot().unwrap(),
            "re-encoded exactly"
        );
    }

    #[test]
    fn differences_name_the_parts_that_differ() {
        let st = busy_state(EventRetention::default());
        let back = State::restore(&st.snapshot().unwrap(), EventRetention::default()).unwrap();
        assert!(back.differences(&st).is_empty());
        let mut later = st.clone();
        later.advance_to(99);
        assert_eq!(later.differences(&st), ["last_index"]);
    }

    #[test]
    fn format_1_snapshots_keep_their_compacted_range() {
        let small = EventRetention {
            max_events: 2,
            ..EventRetention::default()
        };
        let st = busy_state(small);
        assert!(st.events.oldest_readable() > 1, "something was dropped");
        let restored = State::restore(&v1_snapshot(&st), small).unwrap();
        assert_eq!(restored, st);
        assert!(matches!(
            restored.events.read_from(1),
            Err(crate::EventLogError::Compacted { requested: 1, .. })
        ));
    }

    /// Format 3's tables before the scheduler configuration was added.
    #[derive(Serialize)]
    struct TablesBeforeSchedulerConfig<'a> {
        jobs: &'a crate::tables::Map<crate::tables::NsKey, std::sync::Arc<Job>>,
        job_versions: &'a crate::tables::Map<crate::tables::VersionKey, std::sync::Arc<Job>>,
        job_summaries: &'a crate::tables::Map<crate::tables::NsKey, std::sync::Arc<JobSummary>>,
        evals: &'a crate::tables::Map<String, std::sync::Arc<Evaluation>>,
        allocs: &'a crate::tables::Map<String, std::sync::Arc<crate::AllocRow>>,
        nodes: &'a crate::tables::Map<String, std::sync::Arc<Node>>,
        indexes: &'a std::collections::BTreeMap<crate::Table, u64>,
        key_indexes: &'a crate::collections::CollectionIndexes,
    }

    #[test]
    fn format_3_snapshots_without_a_scheduler_configuration_restore() {
        let st = busy_state(EventRetention::default());
        assert!(st.scheduler_config().is_none());
        let t = &st.tables;
        #[derive(Serialize)]
        struct Old<'a> {
            format: u32,
            last_index: u64,
            restored_at: u64,
            tables: TablesBeforeSchedulerConfig<'a>,
            events: &'a EventLog,
        }
        let old = rmp_serde::to_vec_named(&Old {
            format: 3,
            last_index: st.last_index,
            restored_at: st.restored_at,
            tables: TablesBeforeSchedulerConfig {
                jobs: &t.jobs,
                job_versions: &t.job_versions,
                job_summaries: &t.job_summaries,
                evals: &t.evals,
                allocs: &t.allocs,
                nodes: &t.nodes,
                indexes: &t.indexes,
                key_indexes: &t.key_indexes,
            },
            events: &st.events,
        })
        .unwrap();
        let restored = State::restore(&old, EventRetention::default()).unwrap();
        assert_eq!(restored, st);
        assert!(restored.scheduler_config().is_none());
        // Written before the namespaces table: `default` alone.
        assert_eq!(restored.namespace_names(), ["default"]);
    }

    #[test]
    fn unknown_formats_are_refused() {
        let st = busy_state(EventRetention::default());
        let mut snap: SnapshotOwned = rmp_serde::from_slice(&st.snapshot().unwrap()).unwrap();
        snap.format = FORMAT + 1;
        let bytes = rmp_serde::to_vec_named(&SnapshotRef {
            format: snap.format,
            last_index: snap.last_index,
            restored_at: snap.restored_at,
            tables: &snap.tables,
            events: LogWithRows {
                log: &snap.events,
                row: |_, _: &str, _: &str, _| None,
            },
            cluster: None,
        })
        .unwrap();
        assert!(matches!(
            State::restore(&bytes, EventRetention::default()),
            Err(SnapshotError::Format { found }) if found == FORMAT + 1
        ));
    }
}
