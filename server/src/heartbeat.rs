//! Node heartbeat TTLs on the leader (Nomad nomad/heartbeat.go). Being written (issue C).
