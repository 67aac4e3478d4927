//! The eval broker (`drover_scheduler::broker`): a clock-free data
//! structure, so every case drives time by hand and checks exact results.

use std::collections::{BTreeMap, BTreeSet};

use drover_api::Evaluation;
use drover_scheduler::broker::{
    BrokerConfig, BrokerError, BrokerStats, EvalBroker, SchedulerStats, FAILED_QUEUE,
};
use proptest::prelude::*;

const SECOND_NANOS: i64 = 1_000_000_000;
/// Wall clock at the start of every test.
const T0: i64 = 1_700_000_000 * SECOND_NANOS;

fn ev(id: &str, job: &str, priority: i32, create_index: u64, eval_type: &str) -> Evaluation {
    Evaluation {
        id: id.into(),
        namespace: "default".into(),
        priority,
        eval_type: eval_type.into(),
        job_id: job.into(),
        create_index,
        modify_index: create_index,
        ..Evaluation::default()
    }
}

fn broker() -> EvalBroker {
    let mut b = EvalBroker::new(BrokerConfig::default());
    b.set_enabled(true);
    b
}

/// A broker holding `evals`, all enqueued at time 0.
fn broker_with(evals: &[Evaluation]) -> EvalBroker {
    let mut b = broker();
    for e in evals {
        b.enqueue(e.clone(), 0, T0);
    }
    b
}

/// Dequeues for `scheds` until empty, acking each one, and returns the IDs
/// in delivery order.
#[track_caller]
fn drain(b: &mut EvalBroker, scheds: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((e, token)) = b.dequeue(scheds, 0) {
        assert_eq!(b.ack(&e.id, &token), Ok(()));
        out.push(e.id);
    }
    out
}

#[track_caller]
fn dequeue_id(b: &mut EvalBroker, scheds: &[&str], now_ms: u64) -> Option<(String, String)> {
    b.dequeue(scheds, now_ms).map(|(e, t)| (e.id, t))
}

#[track_caller]
fn check_stats(b: &EvalBroker, ready: usize, unacked: usize, pending: usize, waiting: usize) {
    let s = b.stats();
    assert_eq!(
        (
            s.total_ready,
            s.total_unacked,
            s.total_pending,
            s.total_waiting
        ),
        (ready, unacked, pending, waiting),
        "{s:?}"
    );
}

#[test]
fn config_defaults_are_nomads() {
    assert_eq!(
        BrokerConfig::default(),
        BrokerConfig {
            nack_timeout_ms: 60_000,
            delivery_limit: 3,
            initial_nack_delay_ms: 1_000,
            subsequent_nack_delay_ms: 20_000,
        }
    );
}

#[test]
fn priority_ordering() {
    let mut b = broker_with(&[
        ev("low", "a", 10, 1, "service"),
        ev("high", "b", 90, 2, "service"),
        ev("mid", "c", 50, 3, "service"),
    ]);
    assert_eq!(drain(&mut b, &["service"]), ["high", "mid", "low"]);
}

#[test]
fn fifo_by_create_index_within_priority() {
    let mut b = broker_with(&[
        ev("e3", "c", 50, 30, "service"),
        ev("e1", "a", 50, 10, "service"),
        ev("e2", "b", 50, 20, "service"),
    ]);
    assert_eq!(drain(&mut b, &["service"]), ["e1", "e2", "e3"]);
}

#[test]
fn id_breaks_full_ties() {
    let mut b = broker_with(&[
        ev("b", "j2", 50, 7, "service"),
        ev("a", "j1", 50, 7, "service"),
    ]);
    assert_eq!(drain(&mut b, &["service"]), ["a", "b"]);
}

#[test]
fn scheduler_filtering() {
    let mut b = broker_with(&[
        ev("svc", "a", 50, 1, "service"),
        ev("bat", "b", 90, 2, "batch"),
        ev("core", "c", 100, 3, "_core"),
    ]);
    assert_eq!(drain(&mut b, &["service"]), ["svc"]);
    assert_eq!(drain(&mut b, &["system"]), Vec::<String>::new());
    assert_eq!(drain(&mut b, &["batch", "_core"]), ["core", "bat"]);
}

#[test]
fn across_schedulers_priority_then_create_index() {
    let mut b = broker_with(&[
        ev("svc", "a", 50, 5, "service"),
        ev("bat", "b", 50, 3, "batch"),
        ev("sys", "c", 70, 9, "system"),
    ]);
    assert_eq!(
        drain(&mut b, &["service", "batch", "system"]),
        ["sys", "bat", "svc"]
    );
}

#[test]
fn one_in_flight_per_job_promotes_on_ack() {
    let mut b = broker_with(&[
        ev("e1", "web", 50, 1, "service"),
        ev("e2", "web", 50, 2, "service"),
    ]);
    check_stats(&b, 1, 0, 1, 0);
    let (id, token) = dequeue_id(&mut b, &["service"], 0).unwrap();
    assert_eq!(id, "e1");
    // e2 is held back while e1 is in flight.
    assert_eq!(b.dequeue(&["service"], 0), None);
    check_stats(&b, 0, 1, 1, 0);
    b.ack("e1", &token).unwrap();
    check_stats(&b, 1, 0, 0, 0);
    assert_eq!(drain(&mut b, &["service"]), ["e2"]);
}

#[test]
fn same_job_in_other_namespace_is_independent() {
    let mut other = ev("e2", "web", 50, 2, "service");
    other.namespace = "prod".into();
    let mut b = broker_with(&[ev("e1", "web", 50, 1, "service"), other]);
    assert!(b.dequeue(&["service"], 0).is_some());
    assert!(b.dequeue(&["service"], 0).is_some());
}

#[test]
fn ack_promotes_best_pending_and_sheds_the_rest() {
    let mut b = broker_with(&[
        ev("e1", "web", 50, 1, "service"),
        ev("e2", "web", 50, 2, "service"),
        ev("e3", "web", 50, 3, "service"),
        ev("e4", "web", 50, 4, "service"),
    ]);
    let (_, token) = dequeue_id(&mut b, &["service"], 0).unwrap();
    b.ack("e1", &token).unwrap();
    // The newest pending eval is promoted; the older two are superseded.
    let s = b.stats();
    assert_eq!(
        (s.total_ready, s.total_pending, s.total_cancelable),
        (1, 0, 2)
    );
    let cancel: Vec<_> = b.take_cancelable().into_iter().map(|e| e.id).collect();
    assert_eq!(cancel, ["e3", "e2"]);
    assert!(b.take_cancelable().is_empty());
    assert_eq!(drain(&mut b, &["service"]), ["e4"]);
}

#[test]
fn nack_redelivers_after_initial_then_subsequent_delay() {
    let mut b = broker_with(&[ev("e1", "web", 50, 1, "service")]);
    let (_, t1) = dequeue_id(&mut b, &["service"], 0).unwrap();
    b.nack("e1", &t1, 100).unwrap();
    check_stats(&b, 0, 0, 0, 1);
    assert_eq!(b.next_deadline(), Some(1_100));
    b.tick(1_099, T0);
    assert_eq!(b.dequeue(&["service"], 1_099), None);
    b.tick(1_100, T0);
    let (_, t2) = dequeue_id(&mut b, &["service"], 1_100).unwrap();
    assert_ne!(t1, t2);
    b.nack("e1", &t2, 2_000).unwrap();
    assert_eq!(b.next_deadline(), Some(22_000));
    b.tick(21_999, T0);
    assert_eq!(b.dequeue(&["service"], 21_999), None);
    b.tick(22_000, T0);
    assert_eq!(
        dequeue_id(&mut b, &["service"], 22_000).map(|p| p.0),
        Some("e1".into())
    );
}

#[test]
fn nack_delay_keeps_the_job_slot() {
    let mut b = broker_with(&[ev("e1", "web", 50, 1, "service")]);
    let (_, t1) = dequeue_id(&mut b, &["service"], 0).unwrap();
    b.nack("e1", &t1, 0).unwrap();
    b.enqueue(ev("e2", "web", 50, 2, "service"), 0, T0);
    check_stats(&b, 0, 0, 1, 1);
    assert_eq!(b.dequeue(&["service"], 0), None);
    b.tick(1_000, T0);
    assert_eq!(
        dequeue_id(&mut b, &["service"], 1_000).map(|p| p.0),
        Some("e1".into())
    );
}

#[test]
fn delivery_limit_sends_to_failed() {
    let cfg = BrokerConfig {
        initial_nack_delay_ms: 0,
        subsequent_nack_delay_ms: 0,
        ..BrokerConfig::default()
    };
    let mut b = EvalBroker::new(cfg);
    b.set_enabled(true);
    b.enqueue(ev("e1", "web", 50, 1, "service"), 0, T0);
    b.enqueue(ev("e2", "web", 50, 2, "service"), 0, T0);
    for _ in 0..3 {
        let (id, token) = dequeue_id(&mut b, &["service"], 0).unwrap();
        assert_eq!(id, "e1");
        b.nack(&id, &token, 0).unwrap();
    }
    let s = b.stats();
    assert_eq!((s.total_ready, s.total_failed, s.total_pending), (0, 1, 1));
    assert_eq!(
        s.by_scheduler.get(FAILED_QUEUE),
        Some(&SchedulerStats {
            ready: 1,
            unacked: 0
        })
    );
    // The failed eval still holds the job until the leader takes it.
    assert_eq!(b.dequeue(&["service"], 0), None);
    let failed: Vec<_> = b.take_failed().into_iter().map(|e| e.id).collect();
    assert_eq!(failed, ["e1"]);
    assert!(!b.contains("e1"));
    assert_eq!(drain(&mut b, &["service"]), ["e2"]);
}

#[test]
fn nack_timeout_via_tick() {
    let mut b = broker_with(&[ev("e1", "web", 50, 1, "service")]);
    let (_, token) = dequeue_id(&mut b, &["service"], 500).unwrap();
    assert_eq!(b.next_deadline(), Some(60_500));
    b.tick(60_499, T0);
    assert_eq!(b.outstanding("e1"), Some(token.as_str()));
    b.tick(60_500, T0);
    assert_eq!(b.outstanding("e1"), None);
    assert_eq!(
        b.ack("e1", &token),
        Err(BrokerError::NotOutstanding("e1".into()))
    );
    // Timed-out delivery counts as the first nack: initial delay applies.
    assert_eq!(b.next_deadline(), Some(61_500));
    b.tick(61_500, T0);
    assert_eq!(
        dequeue_id(&mut b, &["service"], 61_500).map(|p| p.0),
        Some("e1".into())
    );
}

#[test]
fn outstanding_reset_extends_the_timeout() {
    let mut b = broker_with(&[ev("e1", "web", 50, 1, "service")]);
    let (_, token) = dequeue_id(&mut b, &["service"], 0).unwrap();
    b.outstanding_reset("e1", &token, 50_000).unwrap();
    assert_eq!(b.next_deadline(), Some(110_000));
    b.tick(60_000, T0);
    assert_eq!(b.ack("e1", &token), Ok(()));
    assert_eq!(
        b.outstanding_reset("e1", &token, 0),
        Err(BrokerError::NotOutstanding("e1".into()))
    );
}

#[test]
fn ack_and_nack_errors() {
    let mut b = broker_with(&[ev("e1", "web", 50, 1, "service")]);
    assert_eq!(
        b.ack("e1", "x"),
        Err(BrokerError::NotOutstanding("e1".into()))
    );
    assert_eq!(
        b.ack("nope", "x"),
        Err(BrokerError::NotOutstanding("nope".into()))
    );
    let (_, token) = dequeue_id(&mut b, &["service"], 0).unwrap();
    assert_eq!(
        b.ack("e1", "wrong"),
        Err(BrokerError::TokenMismatch("e1".into()))
    );
    assert_eq!(
        b.nack("e1", "wrong", 0),
        Err(BrokerError::TokenMismatch("e1".into()))
    );
    // A failed attempt changes nothing.
    assert_eq!(b.outstanding("e1"), Some(token.as_str()));
    assert_eq!(b.ack("e1", &token), Ok(()));
    assert_eq!(
        b.ack("e1", &token),
        Err(BrokerError::NotOutstanding("e1".into()))
    );
    assert_eq!(
        b.nack("e1", &token, 0),
        Err(BrokerError::NotOutstanding("e1".into()))
    );
}

#[test]
fn stale_token_after_redelivery_mismatches() {
    let cfg = BrokerConfig {
        initial_nack_delay_ms: 0,
        ..BrokerConfig::default()
    };
    let mut b = EvalBroker::new(cfg);
    b.set_enabled(true);
    b.enqueue(ev("e1", "web", 50, 1, "service"), 0, T0);
    let (_, old) = dequeue_id(&mut b, &["service"], 0).unwrap();
    b.tick(60_000, T0);
    let (_, new) = dequeue_id(&mut b, &["service"], 60_000).unwrap();
    assert_eq!(
        b.ack("e1", &old),
        Err(BrokerError::TokenMismatch("e1".into()))
    );
    assert_eq!(b.ack("e1", &new), Ok(()));
}

#[test]
fn tokens_are_deterministic() {
    let mut b = broker_with(&[
        ev("e1", "a", 50, 1, "service"),
        ev("e2", "b", 50, 2, "service"),
    ]);
    let t: Vec<_> = (0..2)
        .filter_map(|_| dequeue_id(&mut b, &["service"], 0).map(|p| p.1))
        .collect();
    assert_eq!(
        t,
        [
            "00000000-0000-4000-8000-000000000001",
            "00000000-0000-4000-8000-000000000002"
        ]
    );
}

#[test]
fn wait_until_in_future_delays() {
    let mut b = broker();
    let mut e = ev("e1", "web", 50, 1, "service");
    e.wait_until = Some(T0 + 5 * SECOND_NANOS);
    b.enqueue(e, 1_000, T0);
    check_stats(&b, 0, 0, 0, 1);
    assert_eq!(b.next_deadline(), Some(6_000));
    b.tick(5_999, T0 + 5 * SECOND_NANOS - 1);
    assert_eq!(b.dequeue(&["service"], 5_999), None);
    b.tick(6_000, T0 + 5 * SECOND_NANOS);
    check_stats(&b, 1, 0, 0, 0);
    assert_eq!(b.next_deadline(), None);
}

#[test]
fn wait_until_released_by_wall_clock_alone() {
    let mut b = broker();
    let mut e = ev("e1", "web", 50, 1, "service");
    e.wait_until = Some(T0 + 5 * SECOND_NANOS);
    b.enqueue(e, 0, T0);
    // The wall clock jumped; the monotonic clock did not.
    b.tick(10, T0 + 6 * SECOND_NANOS);
    check_stats(&b, 1, 0, 0, 0);
    assert_eq!(b.next_deadline(), None);
}

#[test]
fn wait_until_in_past_is_ready_now() {
    let mut b = broker();
    let mut e = ev("e1", "web", 50, 1, "service");
    e.wait_until = Some(T0 - SECOND_NANOS);
    b.enqueue(e, 0, T0);
    check_stats(&b, 1, 0, 0, 0);
}

#[test]
fn relative_wait_delays() {
    let mut b = broker();
    let mut e = ev("e1", "web", 50, 1, "service");
    e.wait = 2 * SECOND_NANOS;
    b.enqueue(e, 100, T0);
    assert_eq!(b.next_deadline(), Some(2_100));
    b.tick(2_100, T0);
    check_stats(&b, 1, 0, 0, 0);
}

#[test]
fn waiting_eval_does_not_hold_the_job() {
    let mut b = broker();
    let mut later = ev("e1", "web", 50, 1, "service");
    later.wait_until = Some(T0 + SECOND_NANOS);
    b.enqueue(later, 0, T0);
    b.enqueue(ev("e2", "web", 50, 2, "service"), 0, T0);
    let (id, token) = dequeue_id(&mut b, &["service"], 0).unwrap();
    assert_eq!(id, "e2");
    // Released while e2 is in flight, so e1 queues behind it.
    b.tick(1_000, T0 + SECOND_NANOS);
    check_stats(&b, 0, 1, 1, 0);
    b.ack("e2", &token).unwrap();
    assert_eq!(drain(&mut b, &["service"]), ["e1"]);
}

#[test]
fn disabling_flushes_everything() {
    let mut b = broker_with(&[
        ev("e1", "web", 50, 1, "service"),
        ev("e2", "web", 50, 2, "service"),
        ev("e3", "api", 50, 3, "batch"),
    ]);
    let (_, token) = dequeue_id(&mut b, &["service"], 0).unwrap();
    b.set_enabled(false);
    assert_eq!(b.stats(), BrokerStats::default());
    assert_eq!(b.next_deadline(), None);
    assert_eq!(b.ack("e1", &token), Err(BrokerError::Disabled));
    assert_eq!(b.dequeue(&["service", "batch"], 0), None);
    // Ignored while disabled.
    b.enqueue(ev("e4", "x", 50, 4, "service"), 0, T0);
    assert!(!b.contains("e4"));
    b.set_enabled(true);
    assert_eq!(b.stats(), BrokerStats::default());
    // The old token never matches a new delivery of the same eval.
    b.enqueue(ev("e1", "web", 50, 1, "service"), 0, T0);
    let (_, fresh) = dequeue_id(&mut b, &["service"], 0).unwrap();
    assert_ne!(fresh, token);
    assert_eq!(
        b.ack("e1", &token),
        Err(BrokerError::TokenMismatch("e1".into()))
    );
}

#[test]
fn new_broker_is_disabled() {
    let mut b = EvalBroker::new(BrokerConfig::default());
    assert!(!b.enabled());
    b.enqueue(ev("e1", "web", 50, 1, "service"), 0, T0);
    assert_eq!(b.stats(), BrokerStats::default());
}

#[test]
fn enqueue_dedupes_by_id() {
    let mut b = broker();
    let e = ev("e1", "web", 50, 1, "service");
    b.enqueue(e.clone(), 0, T0);
    b.enqueue(e.clone(), 0, T0);
    check_stats(&b, 1, 0, 0, 0);
    let (_, token) = dequeue_id(&mut b, &["service"], 0).unwrap();
    b.enqueue(e.clone(), 0, T0);
    check_stats(&b, 0, 1, 0, 0);
    b.ack("e1", &token).unwrap();
    // Once acked it is gone, so a later enqueue is new work.
    b.enqueue(e, 0, T0);
    check_stats(&b, 1, 0, 0, 0);
}

#[test]
fn stats_by_scheduler() {
    let mut b = broker_with(&[
        ev("s1", "a", 50, 1, "service"),
        ev("s2", "b", 50, 2, "service"),
        ev("b1", "c", 50, 3, "batch"),
    ]);
    let _ = b.dequeue(&["service"], 0);
    let s = b.stats();
    let want: BTreeMap<String, SchedulerStats> = [
        (
            "batch".to_owned(),
            SchedulerStats {
                ready: 1,
                unacked: 0,
            },
        ),
        (
            "service".to_owned(),
            SchedulerStats {
                ready: 1,
                unacked: 1,
            },
        ),
    ]
    .into();
    assert_eq!(s.by_scheduler, want);
    assert_eq!((s.total_ready, s.total_unacked), (2, 1));
}

// ---- property test -------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// Index into the eval pool; optional WaitUntil offset in ms.
    Enqueue(usize, Option<u16>),
    Dequeue(u8),
    /// Ack the n-th outstanding eval, or with a bad token.
    Ack(usize, bool),
    Nack(usize, bool),
    Tick(u32),
    TakeFailed,
}

const POOL: usize = 12;
const SCHEDS: [&str; 2] = ["service", "batch"];

fn pool_eval(i: usize) -> Evaluation {
    ev(
        &format!("e{i}"),
        &format!("job{}", i % 3),
        [10, 50, 90][(i + i / 5) % 3],
        i as u64,
        SCHEDS[i % 2],
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..POOL, proptest::option::of(0u16..5_000)).prop_map(|(i, w)| Op::Enqueue(i, w)),
        (0u8..3).prop_map(Op::Dequeue),
        (0usize..4, any::<bool>()).prop_map(|(i, ok)| Op::Ack(i, ok)),
        (0usize..4, any::<bool>()).prop_map(|(i, ok)| Op::Nack(i, ok)),
        (0u32..70_000).prop_map(Op::Tick),
        Just(Op::TakeFailed),
    ]
}

proptest! {
    #[test]
    fn random_operations_keep_invariants(ops in proptest::collection::vec(op(), 1..120)) {
        let mut b = broker();
        let mut now_ms: u64 = 0;
        // Evals the broker accepted and has not yet let go of.
        let mut live: BTreeSet<String> = BTreeSet::new();
        let unix = |ms: u64| T0 + ms as i64 * 1_000_000;
        for op in ops {
            let outstanding: Vec<(String, String)> = live
                .iter()
                .filter_map(|id| b.outstanding(id).map(|t| (id.clone(), t.to_owned())))
                .collect();
            match op {
                Op::Enqueue(i, wait) => {
                    let mut e = pool_eval(i);
                    e.wait_until = wait.map(|w| unix(now_ms) + i64::from(w) * 1_000_000);
                    if !b.contains(&e.id) {
                        live.insert(e.id.clone());
                        b.enqueue(e, now_ms, unix(now_ms));
                    }
                }
                Op::Dequeue(mask) => {
                    let scheds: Vec<&str> = match mask {
                        0 => vec!["service"],
                        1 => vec!["batch"],
                        _ => SCHEDS.to_vec(),
                    };
                    if let Some((e, token)) = b.dequeue(&scheds, now_ms) {
                        prop_assert!(scheds.contains(&e.eval_type.as_str()));
                        prop_assert_eq!(b.outstanding(&e.id), Some(token.as_str()));
                    }
                }
                Op::Ack(n, good) | Op::Nack(n, good) if !outstanding.is_empty() => {
                    let (id, token) = &outstanding[n % outstanding.len()];
                    let token = if good { token.clone() } else { "bogus".to_owned() };
                    let res = if matches!(op, Op::Ack(..)) {
                        let r = b.ack(id, &token);
                        if r.is_ok() {
                            live.remove(id);
                        }
                        r
                    } else {
                        b.nack(id, &token, now_ms)
                    };
                    if good {
                        prop_assert_eq!(res, Ok(()));
                    } else {
                        prop_assert_eq!(res, Err(BrokerError::TokenMismatch(id.clone())));
                    }
                }
                Op::Ack(..) | Op::Nack(..) => {}
                Op::Tick(dt) => {
                    now_ms += u64::from(dt);
                    b.tick(now_ms, unix(now_ms));
                }
                Op::TakeFailed => {
                    for e in b.take_failed() {
                        prop_assert!(live.remove(&e.id));
                    }
                }
            }
            for e in b.take_cancelable() {
                prop_assert!(live.remove(&e.id));
            }

            // Conservation: the broker holds exactly the live evals.
            for id in &live {
                prop_assert!(b.contains(id), "lost {}", id);
            }
            let s = b.stats();
            prop_assert_eq!(
                s.total_ready + s.total_unacked + s.total_pending + s.total_waiting + s.total_failed,
                live.len()
            );
            // At most one unacked (indeed ready-or-unacked) eval per job.
            let mut jobs: BTreeMap<String, usize> = BTreeMap::new();
            for id in &live {
                if b.outstanding(id).is_some() {
                    let i: usize = id[1..].parse().unwrap();
                    *jobs.entry(pool_eval(i).job_id).or_default() += 1;
                }
            }
            prop_assert!(jobs.values().all(|&n| n <= 1), "{:?}", jobs);
            prop_assert!(s.total_ready + s.total_unacked <= 3, "{:?}", s);
            prop_assert_eq!(
                b.next_deadline().is_some(),
                s.total_unacked + s.total_waiting > 0
            );
        }
        // Eventually everything drains: time passes, workers ack everything,
        // and the leader takes the failed evals.
        for _ in 0..100 {
            now_ms += 100_000;
            b.tick(now_ms, unix(now_ms));
            while let Some((e, token)) = b.dequeue(&SCHEDS, now_ms) {
                prop_assert_eq!(b.ack(&e.id, &token), Ok(()));
                live.remove(&e.id);
            }
            for e in b.take_failed() {
                live.remove(&e.id);
            }
            for e in b.take_cancelable() {
                live.remove(&e.id);
            }
        }
        prop_assert!(live.is_empty(), "stuck: {:?}", live);
        prop_assert_eq!(b.stats(), BrokerStats::default());
    }
}
