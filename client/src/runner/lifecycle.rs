//! When each task of an allocation may start: Nomad's `lifecycle` block
//! (`prestart` / `poststart` / `poststop`, ephemeral or `sidecar`), after
//! Nomad's `client/allocrunner/tasklifecycle/coordinator.go`.
//!
//! The coordinator moves through phases as the task states change:
//!
//! | phase | may start |
//! |---|---|
//! | prestart | prestart tasks |
//! | main | prestart sidecars, main tasks |
//! | poststart | prestart sidecars, main tasks, poststart tasks |
//! | wait | sidecars and main tasks |
//! | poststop | poststop tasks |
//!
//! prestart → main once every ephemeral prestart task finished successfully
//! and every prestart sidecar is running; main → poststart once no main task
//! is pending; poststart → wait once every ephemeral poststart task is dead;
//! any phase → poststop once every task but the poststop ones is dead.
//!
//! A gate only matters before a task's first start: a task runner waits on
//! its stage's gate once, so closing a gate later never stops a task.

use std::collections::BTreeMap;

use drover_api::{Task, TaskState, TaskStateValue};
use tokio::sync::watch;

/// Where a task sits in the group's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    PrestartEphemeral,
    PrestartSidecar,
    Main,
    PoststartEphemeral,
    PoststartSidecar,
    Poststop,
}

impl Stage {
    pub fn of(task: &Task) -> Stage {
        let sidecar = task.is_sidecar();
        match task.lifecycle_hook() {
            Some("prestart") if sidecar => Stage::PrestartSidecar,
            Some("prestart") => Stage::PrestartEphemeral,
            Some("poststart") if sidecar => Stage::PoststartSidecar,
            Some("poststart") => Stage::PoststartEphemeral,
            Some("poststop") => Stage::Poststop,
            // Validation refuses other hooks; a task without one is main.
            _ => Stage::Main,
        }
    }

    /// Runs once, to completion, rather than beside the main tasks.
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            Stage::PrestartEphemeral | Stage::PoststartEphemeral | Stage::Poststop
        )
    }

    pub fn is_sidecar(self) -> bool {
        matches!(self, Stage::PrestartSidecar | Stage::PoststartSidecar)
    }

    const ALL: [Stage; 6] = [
        Stage::PrestartEphemeral,
        Stage::PrestartSidecar,
        Stage::Main,
        Stage::PoststartEphemeral,
        Stage::PoststartSidecar,
        Stage::Poststop,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Prestart,
    Main,
    Poststart,
    Wait,
    Poststop,
}

impl Phase {
    fn allows(self, stage: Stage) -> bool {
        use Stage as S;
        match self {
            Phase::Prestart => matches!(stage, S::PrestartEphemeral | S::PrestartSidecar),
            Phase::Main => matches!(stage, S::PrestartSidecar | S::Main),
            Phase::Poststart => matches!(
                stage,
                S::PrestartSidecar | S::Main | S::PoststartEphemeral | S::PoststartSidecar
            ),
            Phase::Wait => matches!(stage, S::PrestartSidecar | S::Main | S::PoststartSidecar),
            Phase::Poststop => stage == S::Poststop,
        }
    }
}

/// The start gates of one allocation's tasks.
pub struct Coordinator {
    phase: Phase,
    stages: BTreeMap<String, Stage>,
    gates: BTreeMap<Stage, watch::Sender<bool>>,
}

impl Coordinator {
    pub fn new<'a>(tasks: impl IntoIterator<Item = &'a Task>) -> Coordinator {
        let stages = tasks
            .into_iter()
            .map(|t| (t.name.clone(), Stage::of(t)))
            .collect();
        let gates = Stage::ALL
            .iter()
            .map(|s| (*s, watch::channel(false).0))
            .collect();
        let mut c = Coordinator {
            phase: Phase::Prestart,
            stages,
            gates,
        };
        c.open_gates();
        // Leave the prestart phase at once when the group has no prestart
        // tasks.
        c.update(&BTreeMap::new());
        c
    }

    pub fn stage(&self, task: &str) -> Stage {
        self.stages.get(task).copied().unwrap_or(Stage::Main)
    }

    /// The gate `task` waits on before its first start: `true` = go.
    pub fn gate(&self, task: &str) -> watch::Receiver<bool> {
        self.gates
            .get(&self.stage(task))
            .map(watch::Sender::subscribe)
            .unwrap_or_else(|| watch::channel(true).1)
    }

    /// Moves through as many phases as the task states allow.
    pub fn update(&mut self, states: &BTreeMap<String, TaskState>) {
        loop {
            let next = self.next(states);
            if next == self.phase {
                return;
            }
            self.phase = next;
            self.open_gates();
        }
    }

    fn next(&self, states: &BTreeMap<String, TaskState>) -> Phase {
        let state = |name: &str| states.get(name).map(|s| (s.state, s.failed));
        let all = |stage: Stage, pred: &dyn Fn(Option<(TaskStateValue, bool)>) -> bool| {
            self.stages
                .iter()
                .filter(|(_, s)| **s == stage)
                .all(|(n, _)| pred(state(n)))
        };
        let dead =
            |s: Option<(TaskStateValue, bool)>| s.is_some_and(|s| s.0 == TaskStateValue::Dead);
        let all_but_poststop_dead = self
            .stages
            .iter()
            .filter(|(_, s)| **s != Stage::Poststop)
            .all(|(n, _)| dead(state(n)));
        if all_but_poststop_dead {
            return Phase::Poststop;
        }
        match self.phase {
            Phase::Prestart => {
                let succeeded = all(Stage::PrestartEphemeral, &|s| {
                    s == Some((TaskStateValue::Dead, false))
                });
                let running = all(Stage::PrestartSidecar, &|s| {
                    s.is_some_and(|s| s.0 == TaskStateValue::Running)
                });
                if succeeded && running {
                    Phase::Main
                } else {
                    Phase::Prestart
                }
            }
            Phase::Main => {
                if all(Stage::Main, &|s| {
                    s.is_some_and(|s| s.0 != TaskStateValue::Pending)
                }) {
                    Phase::Poststart
                } else {
                    Phase::Main
                }
            }
            Phase::Poststart => {
                if all(Stage::PoststartEphemeral, &dead) {
                    Phase::Wait
                } else {
                    Phase::Poststart
                }
            }
            Phase::Wait => Phase::Wait,
            Phase::Poststop => Phase::Poststop,
        }
    }

    fn open_gates(&mut self) {
        for (stage, gate) in &self.gates {
            let open = self.phase.allows(*stage);
            gate.send_if_modified(|v| std::mem::replace(v, open) != open);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_api::TaskLifecycle;

    fn task(name: &str, hook: Option<&str>, sidecar: bool) -> Task {
        Task {
            name: name.into(),
            lifecycle: hook.map(|h| TaskLifecycle {
                hook: h.into(),
                sidecar,
            }),
            ..Task::default()
        }
    }

    fn st(state: TaskStateValue, failed: bool) -> TaskState {
        TaskState {
            state,
            failed,
            ..TaskState::default()
        }
    }

    fn open(c: &Coordinator, t: &str) -> bool {
        *c.gate(t).borrow()
    }

    #[test]
    fn phases_follow_the_task_states() {
        use TaskStateValue::*;
        let tasks = [
            task("init", Some("prestart"), false),
            task("proxy", Some("prestart"), true),
            task("main", None, false),
            task("after", Some("poststart"), false),
            task("cleanup", Some("poststop"), false),
        ];
        let mut c = Coordinator::new(&tasks);
        let mut states: BTreeMap<String, TaskState> = tasks
            .iter()
            .map(|t| (t.name.clone(), st(Pending, false)))
            .collect();
        c.update(&states);
        assert!(open(&c, "init") && open(&c, "proxy"));
        assert!(!open(&c, "main") && !open(&c, "after") && !open(&c, "cleanup"));

        // The ephemeral prestart succeeded, but the sidecar is not up yet.
        states.insert("init".into(), st(Dead, false));
        c.update(&states);
        assert!(!open(&c, "main"));
        states.insert("proxy".into(), st(Running, false));
        c.update(&states);
        assert!(open(&c, "main") && !open(&c, "after"));

        states.insert("main".into(), st(Running, false));
        c.update(&states);
        assert!(open(&c, "after") && !open(&c, "cleanup"));

        states.insert("after".into(), st(Dead, false));
        states.insert("main".into(), st(Dead, false));
        c.update(&states);
        assert!(!open(&c, "cleanup"), "the sidecar still runs");
        states.insert("proxy".into(), st(Dead, false));
        c.update(&states);
        assert!(open(&c, "cleanup"));
        assert!(!open(&c, "main"));
    }

    #[test]
    fn a_failed_prestart_never_opens_main_but_opens_poststop() {
        use TaskStateValue::*;
        let tasks = [
            task("init", Some("prestart"), false),
            task("main", None, false),
            task("cleanup", Some("poststop"), false),
        ];
        let mut c = Coordinator::new(&tasks);
        let mut states = BTreeMap::new();
        states.insert("init".to_string(), st(Dead, true));
        states.insert("main".to_string(), st(Pending, false));
        states.insert("cleanup".to_string(), st(Pending, false));
        c.update(&states);
        assert!(!open(&c, "main"));
        // The alloc runner kills the blocked main task, which ends dead.
        states.insert("main".to_string(), st(Dead, false));
        c.update(&states);
        assert!(open(&c, "cleanup"));
    }

    #[test]
    fn without_lifecycle_tasks_main_starts_at_once() {
        let tasks = [task("a", None, false), task("b", None, false)];
        let c = Coordinator::new(&tasks);
        assert!(open(&c, "a") && open(&c, "b"));
        assert_eq!(c.stage("a"), Stage::Main);
    }
}
