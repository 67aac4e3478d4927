//! The scheduler's pure parts, each tested without any runtime: which nodes
//! can take a task group ([`feasible`]), how well it fits each of them
//! ([`rank`]), the service/batch scheduler that turns an evaluation into a
//! plan ([`generic`]), and the eval broker that hands evaluations to workers
//! ([`broker`]). The leader loop, workers and plan applier (issue C) drive them.

pub mod affinity;
pub mod broker;
pub mod feasible;
pub mod generic;
pub mod rank;
pub mod system;
