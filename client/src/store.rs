//! The client's own state in sled: the allocations it
//! runs and each task's driver handle, so an agent that is killed and
//! started again re-attaches to its tasks instead of starting them anew
//! (hashicorp/nomad#9705 is what happens otherwise). The node ID lives here
//! too, so a restarted client is the same node.
//!
//! Values are JSON: small, readable with any sled tool, and tolerant of
//! fields added later.

use std::collections::BTreeMap;
use std::path::Path;

use drover_api::Allocation;

use crate::driver::TaskHandle;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("client state at {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error("client state: {0}")]
    Sled(#[from] sled::Error),
    #[error("client state: undecodable entry {key}: {source}")]
    Decode {
        key: String,
        source: serde_json::Error,
    },
    #[error("client state: {0}")]
    Encode(#[from] serde_json::Error),
}

/// One allocation as the client saw it last, with its task handles.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredAlloc {
    pub alloc: Allocation,
    #[serde(default)]
    pub handles: BTreeMap<String, TaskHandle>,
}

pub struct Store {
    db: sled::Db,
    allocs: sled::Tree,
    meta: sled::Tree,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let db = sled::open(dir).map_err(|source| StoreError::Open {
            path: dir.display().to_string(),
            source,
        })?;
        let allocs = db.open_tree("allocs")?;
        let meta = db.open_tree("meta")?;
        Ok(Store { db, allocs, meta })
    }

    /// The node ID chosen the first time this client ran.
    pub fn node_id(&self) -> Result<String, StoreError> {
        if let Some(v) = self.meta.get("node_id")? {
            return Ok(String::from_utf8_lossy(&v).into_owned());
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.meta.insert("node_id", id.as_bytes())?;
        self.db.flush()?;
        Ok(id)
    }

    /// This node's secret (Nomad's `Node.SecretID`), made once like its ID:
    /// the servers refuse a register of the node under another secret, and
    /// with ACLs on it is the token of the node's own calls.
    pub fn node_secret(&self) -> Result<String, StoreError> {
        if let Some(v) = self.meta.get("node_secret")? {
            return Ok(String::from_utf8_lossy(&v).into_owned());
        }
        let secret = uuid::Uuid::new_v4().to_string();
        self.meta.insert("node_secret", secret.as_bytes())?;
        self.db.flush()?;
        Ok(secret)
    }

    /// Write one allocation and its handles; flushed before returning, so a
    /// task started is a task remembered.
    pub fn put(&self, stored: &StoredAlloc) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(stored)?;
        self.allocs.insert(stored.alloc.id.as_bytes(), bytes)?;
        self.allocs.flush()?;
        Ok(())
    }

    /// [`Store::put`] for many, with one flush.
    pub fn put_all(&self, stored: &[StoredAlloc]) -> Result<(), StoreError> {
        if stored.is_empty() {
            return Ok(());
        }
        for s in stored {
            self.allocs
                .insert(s.alloc.id.as_bytes(), serde_json::to_vec(s)?)?;
        }
        self.allocs.flush()?;
        Ok(())
    }

    pub fn get(&self, alloc_id: &str) -> Result<Option<StoredAlloc>, StoreError> {
        let Some(v) = self.allocs.get(alloc_id.as_bytes())? else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|source| StoreError::Decode {
                key: alloc_id.to_string(),
                source,
            })
    }

    pub fn remove(&self, alloc_id: &str) -> Result<(), StoreError> {
        self.allocs.remove(alloc_id.as_bytes())?;
        self.allocs.flush()?;
        Ok(())
    }

    /// Every stored allocation. An entry that does not decode is reported,
    /// not fatal: the rest still come back.
    pub fn all(&self) -> (Vec<StoredAlloc>, Vec<StoreError>) {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for item in self.allocs.iter() {
            match item {
                Ok((k, v)) => match serde_json::from_slice(&v) {
                    Ok(s) => out.push(s),
                    Err(source) => errors.push(StoreError::Decode {
                        key: String::from_utf8_lossy(&k).into_owned(),
                        source,
                    }),
                },
                Err(e) => errors.push(e.into()),
            }
        }
        (out, errors)
    }
}
