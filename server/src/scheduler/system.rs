//! The system and sysbatch schedulers (Nomad scheduler/scheduler_system.go).
//! Being written (issue C).
