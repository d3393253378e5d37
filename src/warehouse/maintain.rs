//! Table maintenance: appends of small batches (cursors, webhook micro-batches, run
//! records) leave many small Parquet files; once enough pile up they are compacted
//! into few large ones. Log checkpoints are written by Delta's own post-commit hook
//! every `delta.checkpointInterval` commits (set when lockstep creates a table).
//! Vacuum deletes the data files that only old versions still use: every model
//! build rewrites its whole table, so without it each run leaves a full copy behind.

use std::num::NonZeroU64;

use deltalake::DeltaTable;
use deltalake::operations::optimize::OptimizeType;

use super::error::delta;
use super::{Result, TableName, Warehouse};

/// When to compact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenancePolicy {
    /// Compact once a table has at least this many small files (0 = never).
    pub compact_after_small_files: usize,
    /// Files below this size count as small, and compaction aims for files this big.
    pub target_file_bytes: u64,
}

impl Default for MaintenancePolicy {
    fn default() -> Self {
        MaintenancePolicy {
            compact_after_small_files: 32,
            target_file_bytes: 128 * 1024 * 1024,
        }
    }
}

/// Result of one vacuum.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Vacuumed {
    /// Data files deleted (or, in a dry run, that would be).
    pub files_deleted: usize,
}

/// Result of one compaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compaction {
    /// Files rewritten away.
    pub files_removed: u64,
    /// Files written.
    pub files_added: u64,
}

impl Warehouse {
    pub(super) async fn maintain_if_due(&self, name: &TableName, table: DeltaTable) -> Result<()> {
        let policy = self.maintenance;
        if policy.compact_after_small_files == 0 {
            return Ok(());
        }
        let small = table
            .snapshot()
            .map_err(delta(name))?
            .log_data()
            .iter()
            .filter(|f| u64::try_from(f.size()).unwrap_or(0) < policy.target_file_bytes)
            .count();
        if small >= policy.compact_after_small_files {
            self.compact_table(name, table).await?;
        }
        Ok(())
    }

    /// Compact `name` now: rewrite its small files into few large ones, as one commit
    /// that readers see atomically.
    pub async fn compact(&self, name: &TableName) -> Result<Compaction> {
        let table = self.require(name).await?;
        self.compact_table(name, table).await
    }

    async fn compact_table(&self, name: &TableName, table: DeltaTable) -> Result<Compaction> {
        let target = NonZeroU64::new(self.maintenance.target_file_bytes).unwrap_or(NonZeroU64::MIN);
        let schema = table
            .snapshot()
            .map_err(delta(name))?
            .snapshot()
            .arrow_schema();
        let (_, metrics) = table
            .optimize()
            .with_writer_properties(super::encoding::writer_properties(&schema, None))
            .with_type(OptimizeType::Compact)
            .with_target_size(target)
            .await
            .map_err(delta(name))?;
        tracing::debug!(table = %name, removed = metrics.num_files_removed, added = metrics.num_files_added, "Compacted table.");
        Ok(Compaction {
            files_removed: metrics.num_files_removed,
            files_added: metrics.num_files_added,
        })
    }

    /// Delete `name`'s data files that no version newer than `retain` ago reads: the
    /// versions in that window stay readable (time travel, and readers that began on
    /// one before it was replaced), older ones lose their data. `dry_run` only counts.
    pub async fn vacuum(
        &self,
        name: &TableName,
        retain: std::time::Duration,
        dry_run: bool,
    ) -> Result<Vacuumed> {
        let table = self.require(name).await?;
        // A retention past chrono's range (centuries) keeps everything: delete nothing.
        let Ok(retention) = chrono::Duration::from_std(retain) else {
            return Ok(Vacuumed::default());
        };
        let (_, metrics) = table
            .vacuum()
            .with_retention_period(retention)
            // Delta refuses less than the table's own retention (7 days) unless told:
            // the caller's setting is the decision.
            .with_enforce_retention_duration(false)
            .with_dry_run(dry_run)
            .await
            .map_err(delta(name))?;
        tracing::debug!(table = %name, deleted = metrics.files_deleted.len(), dry_run, "Vacuumed table.");
        Ok(Vacuumed {
            files_deleted: metrics.files_deleted.len(),
        })
    }
}
