//! Keyed wake-ups and the retained event log.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use common::*;
use drover_api::*;
use drover_state::command::*;
use drover_state::{
    Command, EventLogError, EventRetention, State, Table, WatchKey, WatchRegistry, WatchSet,
};

/// A waker that counts how often it was woken.
struct Counter(AtomicUsize);
impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<Counter>, Waker) {
    let c = Arc::new(Counter(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

fn poll(w: &mut drover_state::Watch, waker: &Waker) -> Poll<()> {
    Pin::new(w).poll(&mut Context::from_waker(waker))
}

fn set(keys: &[WatchKey]) -> WatchSet {
    let mut ws = WatchSet::new();
    for k in keys {
        ws.add(k.clone());
    }
    ws
}

#[test]
fn ten_thousand_parked_reads_and_a_write_wakes_only_its_own() {
    let registry = Arc::new(WatchRegistry::new());
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 1)]);
    h.ok(register(&j, None));
    h.ok(plan(
        &j,
        vec![alloc("a1", &j, "g", "node-4242", "e1")],
        vec![],
    ));

    let mut parked = Vec::new();
    for i in 0..10_000 {
        let (count, waker) = counting_waker();
        let mut w = registry.watch(&set(&[WatchKey::NodeAllocs(format!("node-{i}"))]));
        assert_eq!(poll(&mut w, &waker), Poll::Pending);
        parked.push((w, count));
    }
    assert_eq!(registry.len(), 10_000);

    let applied = h.ok(client_update("a1", AllocClientStatus::Running));
    let woken = registry.wake(&applied.touched);
    assert_eq!(woken, 1, "exactly the watcher of node-4242 wakes");
    for (i, (w, count)) in parked.iter().enumerate() {
        let expect = usize::from(i == 4242);
        assert_eq!(count.0.load(Ordering::SeqCst), expect, "watcher {i}");
        assert_eq!(w.has_fired(), i == 4242);
    }
    assert_eq!(registry.len(), 9_999, "a fired watch leaves the registry");
    drop(parked);
    assert!(registry.is_empty(), "dropped watches unregister");
}

#[test]
fn a_watch_on_several_keys_fires_once_and_is_ready_after() {
    let registry = Arc::new(WatchRegistry::new());
    let (count, waker) = counting_waker();
    let keys = [
        WatchKey::job("default", "web"),
        WatchKey::Table(Table::Allocs),
    ];
    let mut w = registry.watch(&set(&keys));
    assert_eq!(poll(&mut w, &waker), Poll::Pending);
    assert_eq!(registry.wake(&keys), 1);
    assert_eq!(registry.wake(&keys), 0, "already fired and unregistered");
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll(&mut w, &waker), Poll::Ready(()));
}

#[test]
fn a_wake_before_the_first_poll_is_not_lost() {
    let registry = Arc::new(WatchRegistry::new());
    let mut w = registry.watch(&set(&[WatchKey::Node("n1".into())]));
    registry.wake(&[WatchKey::Node("n1".into())]);
    let (_count, waker) = counting_waker();
    assert_eq!(poll(&mut w, &waker), Poll::Ready(()));
}

#[test]
fn wake_all_wakes_everyone() {
    let registry = Arc::new(WatchRegistry::new());
    let ws: Vec<_> = (0..10)
        .map(|i| registry.watch(&set(&[WatchKey::Eval(format!("e{i}"))])))
        .collect();
    assert_eq!(registry.wake_all(), 10);
    assert!(ws.iter().all(|w| w.has_fired()));
}

fn heartbeat(node: &str, now: i64) -> Command {
    let ev = NodeEvent {
        message: "tick".into(),
        ..Default::default()
    };
    Command::NodeUpdateStatus(NodeUpdateStatus {
        node_id: node.into(),
        status: NodeStatus::Ready,
        event: Some(ev),
        evals: vec![],
        now,
    })
}

#[test]
fn event_log_keeps_a_count_and_says_compacted_below_it() {
    let mut h = Harness::new();
    h.state.set_event_retention(EventRetention {
        max_events: 5,
        max_age: i64::MAX,
        ..EventRetention::default()
    });
    h.ok(node_register(&node("n1"))); // index 1
    for i in 0..9 {
        h.ok(heartbeat("n1", T0 + i)); // indexes 2..=10, one event each
    }
    let log = h.state.events();
    assert_eq!(log.len(), 5);
    assert_eq!(log.oldest_readable(), 6);
    let idx: Vec<u64> = log.read_from(6).unwrap().map(|b| b.index).collect();
    assert_eq!(idx, [6, 7, 8, 9, 10]);
    let idx: Vec<u64> = log.read_from(9).unwrap().map(|b| b.index).collect();
    assert_eq!(idx, [9, 10], "replay starts exactly at the asked index");
    assert_eq!(
        log.read_from(5).err(),
        Some(EventLogError::Compacted {
            requested: 5,
            oldest: 6
        })
    );
    assert_eq!(
        log.read_from(0).unwrap().next().map(|b| b.index),
        Some(6),
        "0 = oldest retained"
    );
    assert_eq!(
        log.read_from(11).unwrap().count(),
        0,
        "the future is empty, not an error"
    );
}

#[test]
fn event_log_drops_batches_older_than_max_age() {
    let mut h = Harness::new();
    let sec = 1_000_000_000;
    h.state.set_event_retention(EventRetention {
        max_events: 1_000,
        max_age: 60 * sec,
        ..EventRetention::default()
    });
    h.ok(node_register(&node("n1")));
    h.ok(heartbeat("n1", T0 + 10 * sec)); // 2
    h.ok(heartbeat("n1", T0 + 50 * sec)); // 3
    h.ok(heartbeat("n1", T0 + 100 * sec)); // 4: drops 1 (age 100s) and 2 (age 90s)
    let idx: Vec<u64> = h
        .state
        .events()
        .read_from(0)
        .unwrap()
        .map(|b| b.index)
        .collect();
    assert_eq!(idx, [3, 4]);
    assert!(matches!(
        h.state.events().read_from(2),
        Err(EventLogError::Compacted { oldest: 3, .. })
    ));
}

#[test]
fn event_log_survives_snapshot_and_restore() {
    let mut h = Harness::new();
    h.ok(node_register(&node("n1")));
    h.ok(heartbeat("n1", T0));
    let bytes = h.state.snapshot().unwrap();
    let restored = State::restore(&bytes, EventRetention::default()).unwrap();
    let a: Vec<_> = h.state.events().read_from(0).unwrap().cloned().collect();
    let b: Vec<_> = restored.events().read_from(0).unwrap().cloned().collect();
    assert_eq!(a, b);
    assert_eq!(b.len(), 2);
}

#[test]
fn rejected_commands_append_no_events() {
    let mut h = Harness::new();
    let r = h.apply(heartbeat("ghost", T0));
    assert!(r.result.is_err());
    assert!(h.state.events().is_empty());
}

#[test]
fn event_log_keeps_a_byte_budget_and_says_compacted_below_it() {
    let cmds: Vec<Command> = std::iter::once(node_register(&node("n1")))
        .chain((0..9).map(|i| heartbeat("n1", T0 + i)))
        .collect(); // indexes 1..=10, one event each
    let mut all = Harness::new();
    for c in &cmds {
        all.ok(c.clone());
    }
    let sizes: Vec<(u64, usize)> = all
        .state
        .events()
        .read_from(0)
        .unwrap()
        .map(|b| (b.index, b.events.iter().map(|e| e.encoded_len()).sum()))
        .collect();
    assert_eq!(sizes.len(), 10);
    // Room for about three batches.
    let budget = sizes[9].1 * 3 + sizes[9].1 / 2;
    let mut h = Harness::new();
    h.state.set_event_retention(EventRetention {
        max_bytes: budget,
        ..EventRetention::default()
    });
    for c in &cmds {
        h.ok(c.clone());
    }
    // The longest run of newest batches that fits, dropped whole.
    let mut want = Vec::new();
    let mut total = 0;
    for &(index, size) in sizes.iter().rev() {
        total += size;
        if total > budget {
            break;
        }
        want.insert(0, index);
    }
    assert!(want.len() >= 3 && want.len() < 10, "{want:?}");
    let log = h.state.events();
    let idx: Vec<u64> = log.read_from(0).unwrap().map(|b| b.index).collect();
    assert_eq!(idx, want, "whole batches, oldest first");
    assert!(log.encoded_bytes() <= budget);
    assert_eq!(log.len(), want.len());
    assert_eq!(
        log.read_from(want[0] - 1).err(),
        Some(EventLogError::Compacted {
            requested: want[0] - 1,
            oldest: want[0]
        })
    );
    // Restore recounts the bytes, so the budget holds across restarts.
    let restored = State::restore(&h.state.snapshot().unwrap(), log.retention()).unwrap();
    assert_eq!(restored.events().encoded_bytes(), log.encoded_bytes());
    assert_eq!(&restored, &h.state);
}

fn exec_session(id: &str, ended_at: i64) -> ExecSession {
    ExecSession {
        id: id.into(),
        kind: EXEC_SESSION_EXEC.into(),
        alloc_id: "a1".into(),
        job_id: "web".into(),
        namespace: "prod".into(),
        task: "t".into(),
        command: vec!["/bin/sh".into()],
        accessor_id: "acc-1".into(),
        started_at: T0,
        ended_at,
        exit_code: (ended_at > 0).then_some(7),
        ..Default::default()
    }
}

#[test]
fn exec_sessions_are_events_only_and_survive_a_snapshot() {
    let mut h = Harness::new();
    let start = Command::ExecSessionStart(ExecSessionStart {
        session: exec_session("s1", 0),
        now: T0,
    });
    let applied = h.ok(start);
    assert_eq!(applied.events, 1);
    assert!(applied.touched.is_empty(), "no table holds a session");
    h.ok(Command::ExecSessionEnd(ExecSessionEnd {
        session: exec_session("s1", T0 + 5),
        now: T0 + 5,
    }));
    let read = |st: &State| -> Vec<Event> {
        st.events()
            .read_from(0)
            .unwrap()
            .flat_map(|b| {
                let index = b.index;
                b.events
                    .iter()
                    .map(|e| e.to_event(index).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let events = read(&h.state);
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["ExecSessionStarted", "ExecSessionEnded"]);
    let e = &events[1];
    assert_eq!(
        (e.topic, e.key.as_str(), e.namespace.as_str()),
        (Topic::Exec, "s1", "prod")
    );
    assert_eq!(e.filter_keys, ["a1", "web"]);
    assert_eq!(
        e.payload,
        EventPayload::ExecSession(Box::new(exec_session("s1", T0 + 5)))
    );
    let back = State::restore(&h.state.snapshot().unwrap(), EventRetention::default()).unwrap();
    assert_eq!(read(&back), events);
}

#[test]
fn an_exec_session_without_its_keys_is_refused() {
    let mut h = Harness::new();
    for (session, field) in [
        (
            ExecSession {
                id: String::new(),
                ..exec_session("s", 0)
            },
            "ID",
        ),
        (
            ExecSession {
                alloc_id: String::new(),
                ..exec_session("s", 0)
            },
            "AllocID",
        ),
        (
            ExecSession {
                namespace: String::new(),
                ..exec_session("s", 0)
            },
            "Namespace",
        ),
    ] {
        let applied = h.apply(Command::ExecSessionStart(ExecSessionStart {
            session,
            now: T0,
        }));
        let err = applied.result.unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
        assert_eq!(applied.events, 0);
    }
    let applied = h.apply(Command::ExecSessionEnd(ExecSessionEnd {
        session: exec_session("s", 0),
        now: T0,
    }));
    assert!(applied.result.unwrap_err().to_string().contains("EndedAt"));
}
