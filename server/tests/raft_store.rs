//! openraft's storage conformance suite, run against the write-ahead log store and
//! the Drover state machine (real segment files in a temporary directory).

use drover_server::raft::log_store::LogStore;
use drover_server::raft::state_machine::StateMachineStore;
use drover_server::raft::{StorageError, TypeConfig};
use drover_state::EventRetention;
use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| openraft::StorageIOError::write(&e))?;
        let log = LogStore::open(&dir.path().join("wal"), 1 << 20)?;
        let sm = StateMachineStore::open(
            &dir.path().join("snapshots"),
            EventRetention::default(),
            10_000,
        )?;
        Ok((dir, log, sm))
    }
}

#[test]
fn wal_store_and_state_machine_pass_openraft_conformance_suite() {
    if let Err(e) = Suite::test_all(Builder) {
        panic!("storage conformance failed: {e}");
    }
}
