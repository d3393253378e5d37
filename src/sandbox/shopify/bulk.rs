//! Bulk query operations: CREATED → RUNNING → COMPLETED on a timer, the JSONL result
//! rendered from a snapshot of the store when the operation runs, served from
//! `/_sandbox/shopify/bulk/{id}.jsonl`. Cancel moves it to CANCELED. A result over
//! the configured object limit ends FAILED with errorCode TIMEOUT; only the newest
//! results are kept for download. An expired result's buffer is kept for the next
//! render (a month of a large store is hundreds of MB; fresh pages cost faults).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use crate::buffers::BytePool;

/// Expired result buffers kept for reuse.
const KEPT_BUFFERS: usize = 2;

/// Bulk operation status, in Shopify's enum spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Completed,
    Canceling,
    Canceled,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "CREATED",
            Status::Running => "RUNNING",
            Status::Completed => "COMPLETED",
            Status::Canceling => "CANCELING",
            Status::Canceled => "CANCELED",
            Status::Failed => "FAILED",
        }
    }
    pub fn finished(self) -> bool {
        matches!(self, Status::Completed | Status::Canceled | Status::Failed)
    }
}

#[derive(Clone, Debug)]
pub struct Operation {
    pub id: u64,
    pub status: Status,
    pub query: String,
    pub created_at: String,
    pub completed_at: Option<String>,
    pub object_count: u64,
    pub root_object_count: u64,
    pub file_size: u64,
    /// `TIMEOUT`, `INTERNAL_SERVER_ERROR`, ... when FAILED.
    pub error_code: Option<&'static str>,
    pub result: Option<Bytes>,
}

pub struct BulkOps {
    ops: Mutex<BTreeMap<u64, Operation>>,
    buffers: Arc<BytePool>,
}

impl Default for BulkOps {
    fn default() -> Self {
        BulkOps {
            ops: Mutex::default(),
            buffers: BytePool::new(KEPT_BUFFERS),
        }
    }
}

impl BulkOps {
    /// Buffers to render results into.
    pub fn buffers(&self) -> Arc<BytePool> {
        self.buffers.clone()
    }
    /// A rendered result, shared with its downloads; its buffer comes back for
    /// reuse once the result has expired and the last download has finished.
    pub fn freeze(&self, rendered: Vec<u8>) -> Bytes {
        self.buffers.freeze(rendered)
    }

    /// Store a new operation under the next id, chosen under the same lock, so that
    /// operations started at the same moment never share an id.
    pub fn create(&self, mut op: Operation) -> Operation {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        op.id = ops.keys().next_back().map_or(4_412_000_001, |k| k + 1);
        ops.insert(op.id, op.clone());
        op
    }
    pub fn get(&self, id: u64) -> Option<Operation> {
        self.ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }
    /// The most recent operation.
    pub fn current(&self) -> Option<Operation> {
        self.ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .next_back()
            .cloned()
    }
    /// Operations not yet finished.
    pub fn running(&self) -> usize {
        self.ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|o| !o.status.finished())
            .count()
    }
    pub fn update(&self, id: u64, f: impl FnOnce(&mut Operation)) -> Option<Operation> {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        let op = ops.get_mut(&id)?;
        f(op);
        Some(op.clone())
    }
    pub fn result(&self, id: u64) -> Option<Bytes> {
        self.ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .and_then(|o| o.result.clone())
    }
    /// Drop the results of all but the `keep` newest operations that have one.
    pub fn expire(&self, keep: usize) {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        for op in ops
            .values_mut()
            .rev()
            .filter(|o| o.result.is_some())
            .skip(keep)
        {
            op.result = None;
        }
    }
}
