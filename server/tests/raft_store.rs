//! openraft's storage conformance suite, run against the sled log store and
//! the Drover state machine (real sled files in a temporary directory).

use drover_server::raft::log_store::SledLogStore;
use drover_server::raft::state_machine::StateMachineStore;
use drover_server::raft::{StorageError, TypeConfig};
use drover_state::EventRetention;
use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;

struct Builder;

impl StoreBuilder<TypeConfig, SledLogStore, StateMachineStore, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, SledLogStore, StateMachineStore), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| openraft::StorageIOError::write(&e))?;
        let log = SledLogStore::open(&dir.path().join("raft"))?;
        let sm = StateMachineStore::open(&dir.path().join("snapshots"), EventRetention::default())?;
        Ok((dir, log, sm))
    }
}

#[test]
fn sled_store_and_state_machine_pass_openraft_conformance_suite() {
    if let Err(e) = Suite::test_all(Builder) {
        panic!("storage conformance failed: {e}");
    }
}
