//! Properties of the lifecycle coordinator (Nomad's `lifecycle` block):
//! for any group and any order in which its tasks start, run and die, no
//! task starts before its stage allows it, and a stage whose condition
//! holds is open. The simulated tasks follow the task runner's rule: a
//! task starts only while its gate is open, and any task may die.

use std::collections::{BTreeMap, BTreeSet};

use drover_api::{Task, TaskLifecycle, TaskState, TaskStateValue};
use drover_client::runner::lifecycle::{Coordinator, Stage};
use proptest::prelude::*;

fn task(name: String, hook: Option<&str>, sidecar: bool) -> Task {
    Task {
        name,
        lifecycle: hook.map(|h| TaskLifecycle {
            hook: h.to_string(),
            sidecar,
        }),
        ..Task::default()
    }
}

/// A group: at least one main task, and up to two of each lifecycle kind.
fn group() -> impl Strategy<Value = Vec<Task>> {
    (
        1..=3usize,
        0..=2usize,
        0..=2usize,
        0..=2usize,
        0..=1usize,
        0..=2usize,
    )
        .prop_map(|(main, pre, pre_side, post, post_side, stop)| {
            let mut tasks = Vec::new();
            let mut add = |n: usize, prefix: &str, hook: Option<&str>, sidecar: bool| {
                for i in 0..n {
                    tasks.push(task(format!("{prefix}{i}"), hook, sidecar));
                }
            };
            add(main, "main", None, false);
            add(pre, "init", Some("prestart"), false);
            add(pre_side, "proxy", Some("prestart"), true);
            add(post, "after", Some("poststart"), false);
            add(post_side, "watch", Some("poststart"), true);
            add(stop, "cleanup", Some("poststop"), false);
            tasks
        })
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// Start the task if its gate is open (the runner waits otherwise).
    Start,
    /// A running task exits: successfully or failed.
    Exit { failed: bool },
    /// A pending task is killed before it ever started.
    KillPending,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Start),
        2 => any::<bool>().prop_map(|failed| Step::Exit { failed }),
        1 => Just(Step::KillPending),
    ]
}

fn st(state: TaskStateValue, failed: bool) -> TaskState {
    TaskState {
        state,
        failed,
        ..TaskState::default()
    }
}

proptest! {
    #[test]
    fn no_task_starts_before_its_stage_allows_it(
        tasks in group(),
        steps in proptest::collection::vec((any::<prop::sample::Index>(), step()), 1..60),
    ) {
        let mut c = Coordinator::new(&tasks);
        let stage: BTreeMap<String, Stage> =
            tasks.iter().map(|t| (t.name.clone(), Stage::of(t))).collect();
        let names: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
        let stage_ref = &stage;
        let of = |s: Stage| names.iter().filter(move |n| stage_ref[*n] == s);
        let mut states: BTreeMap<String, TaskState> = names
            .iter()
            .map(|n| (n.clone(), st(TaskStateValue::Pending, false)))
            .collect();
        let mut ever_ran: BTreeSet<String> = BTreeSet::new();
        c.update(&states);

        for (pick, step) in steps {
            let name = pick.get(&names).clone();
            let now = states[&name].state;
            match (step, now) {
                (Step::Start, TaskStateValue::Pending) if *c.gate(&name).borrow() => {
                    // What must have happened before this start.
                    let dead_ok = |n: &String| {
                        states[n].state == TaskStateValue::Dead && !states[n].failed
                    };
                    match stage[&name] {
                        Stage::Main => {
                            prop_assert!(of(Stage::PrestartEphemeral).all(dead_ok),
                                "{name} started before the prestart tasks succeeded: {states:?}");
                            prop_assert!(of(Stage::PrestartSidecar).all(|n| ever_ran.contains(n)),
                                "{name} started before the prestart sidecars ran");
                        }
                        Stage::PoststartEphemeral | Stage::PoststartSidecar => {
                            prop_assert!(of(Stage::Main).all(|n| states[n].state != TaskStateValue::Pending),
                                "{name} started while a main task was pending");
                        }
                        Stage::Poststop => {
                            prop_assert!(names.iter()
                                .filter(|n| stage[*n] != Stage::Poststop)
                                .all(|n| states[n].state == TaskStateValue::Dead),
                                "{name} started before everything else was dead");
                        }
                        Stage::PrestartEphemeral | Stage::PrestartSidecar => {}
                    }
                    states.insert(name.clone(), st(TaskStateValue::Running, false));
                    ever_ran.insert(name.clone());
                }
                (Step::Exit { failed }, TaskStateValue::Running) => {
                    states.insert(name.clone(), st(TaskStateValue::Dead, failed));
                }
                (Step::KillPending, TaskStateValue::Pending) => {
                    states.insert(name.clone(), st(TaskStateValue::Dead, false));
                }
                _ => {}
            }
            c.update(&states);

            // Liveness: a stage whose condition holds is open.
            let all_else_dead = names
                .iter()
                .filter(|n| stage[*n] != Stage::Poststop)
                .all(|n| states[n].state == TaskStateValue::Dead);
            for n in of(Stage::Poststop) {
                prop_assert_eq!(*c.gate(n).borrow(), all_else_dead, "poststop gate of {}", n);
            }
            let prestart_done = of(Stage::PrestartEphemeral)
                .all(|n| states[n].state == TaskStateValue::Dead && !states[n].failed)
                && of(Stage::PrestartSidecar).all(|n| states[n].state == TaskStateValue::Running);
            if prestart_done && !all_else_dead {
                for n in of(Stage::Main) {
                    prop_assert!(*c.gate(n).borrow(), "main gate of {} shut: {:?}", n, states);
                }
            }
        }
    }
}
