//! Landing a batch of units: rows grouped by entity, converted to typed batches, and
//! appended to `raw_<source>.<entity>` — children first, the primary entity last,
//! because the primary table's commit carries the marks (cursor, finished window)
//! that say the batch is done.

use std::collections::BTreeMap;

use serde_json::Value;

use arrow::array::RecordBatch;

use super::columns::{Stamp, stamped, to_batch};
use super::{EntitySchema, Export, Result, Stream, Unit};
use crate::warehouse::{TableName, Warehouse};

/// Lands batches of one stream of one source.
pub(crate) struct Lander<'a> {
    pub warehouse: &'a Warehouse,
    pub source: &'a str,
    pub stream: &'a dyn Stream,
    /// Each table's `once` mark as it was when this run first looked (see
    /// [`Lander::earlier_mark`]).
    pub earlier: std::sync::Mutex<BTreeMap<(String, String), Option<i64>>>,
}

impl Lander<'_> {
    /// The raw table of an entity.
    pub fn table(&self, entity: &EntitySchema) -> Result<TableName> {
        Ok(
            TableName::new(&format!("raw_{}", self.source), entity.entity)
                .map_err(crate::warehouse::WarehouseError::from)?,
        )
    }

    /// The primary entity's table (where cursors and window marks live).
    pub fn primary_table(&self) -> Result<TableName> {
        let primary = self.stream.entities().first().ok_or_else(|| {
            super::ExtractError::Usage(format!(
                "stream {} declares no entities",
                self.stream.name()
            ))
        })?;
        self.table(primary)
    }

    /// Land `units`. Every table's commit records `marks`; with `once = (app, v)`, a
    /// table whose mark `app` is already at least `v` is skipped, so a re-run after a
    /// crash lands each table's share exactly once. Returns rows landed per entity.
    pub async fn land(
        &self,
        units: &[Unit],
        marks: &[(String, i64)],
        once: Option<(&str, i64)>,
    ) -> Result<BTreeMap<String, u64>> {
        // entity → (schema address → rows): one Arrow batch per payload shape.
        let mut by_entity: BTreeMap<&str, BTreeMap<usize, (&EntitySchema, Vec<&Value>)>> =
            BTreeMap::new();
        for unit in units {
            for (schema, row) in &unit.rows {
                let key = std::ptr::from_ref(*schema) as usize;
                by_entity
                    .entry(schema.entity)
                    .or_default()
                    .entry(key)
                    .or_insert_with(|| (*schema, Vec::new()))
                    .1
                    .push(row);
            }
        }
        let batch_id = uuid::Uuid::now_v7().to_string();
        let stamp = Stamp {
            source_name: self.source,
            extracted_at_us: chrono::Utc::now().timestamp_micros(),
            batch_id: &batch_id,
        };
        // Convert everything before writing anything: a drifted field fails the
        // batch before any table has been touched.
        let mut prepared = Vec::new();
        for schema in self.stream.entities().iter().rev() {
            let mut batches = Vec::new();
            for (shape, rows) in by_entity
                .get(schema.entity)
                .into_iter()
                .flat_map(|m| m.values())
            {
                batches.push(to_batch(shape, rows, &stamp)?);
            }
            prepared.push((*schema, batches));
        }
        self.commit(prepared, marks, once).await
    }

    /// Land a bulk export's column data, exactly as [`Lander::land`] lands units.
    pub async fn land_export(
        &self,
        export: Export,
        marks: &[(String, i64)],
        once: Option<(&str, i64)>,
    ) -> Result<BTreeMap<String, u64>> {
        let batch_id = uuid::Uuid::now_v7().to_string();
        let stamp = Stamp {
            source_name: self.source,
            extracted_at_us: chrono::Utc::now().timestamp_micros(),
            batch_id: &batch_id,
        };
        let mut columns = export.columns;
        let mut prepared = Vec::new();
        for schema in self.stream.entities().iter().rev() {
            let mut batches = Vec::new();
            if let Some(i) = columns.iter().position(|(s, _)| s.entity == schema.entity) {
                let (shape, cols) = columns.swap_remove(i);
                batches.push(stamped(shape, cols, &stamp)?);
            }
            prepared.push((*schema, batches));
        }
        self.commit(prepared, marks, once).await
    }

    /// The mark `app` of `table` as an earlier run left it. Read once per run, not per
    /// window: this run only lands windows past what its own commits marked, so only
    /// an earlier (killed) run's marks can say a table's share is already landed.
    async fn earlier_mark(&self, table: &TableName, app: &str) -> Result<Option<i64>> {
        let key = (table.to_string(), app.to_string());
        if let Some(v) = self
            .earlier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(*v);
        }
        let v = self.warehouse.mark(table, app).await?;
        self.earlier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, v);
        Ok(v)
    }

    /// Append prepared batches, children first and the primary entity last.
    async fn commit(
        &self,
        prepared: Vec<(&EntitySchema, Vec<RecordBatch>)>,
        marks: &[(String, i64)],
        once: Option<(&str, i64)>,
    ) -> Result<BTreeMap<String, u64>> {
        let mut landed = BTreeMap::new();
        let primary = self.stream.entities().first().map(|e| e.entity);
        for (schema, batches) in prepared {
            let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
            // Nothing to land and no marks to carry: children skip empty commits.
            if rows == 0 && Some(schema.entity) != primary {
                continue;
            }
            let table = self.table(schema)?;
            if let Some((app, version)) = once
                && self
                    .earlier_mark(&table, app)
                    .await?
                    .is_some_and(|v| v >= version)
            {
                continue;
            }
            self.warehouse
                .append_marked(&table, schema.arrow_schema(), batches, marks)
                .await?;
            landed.insert(schema.entity.to_string(), rows);
        }
        Ok(landed)
    }
}
