//! Affinity and spread scoring (Nomad scheduler/rank.go, spread.go).
//! Being written (issue C).
