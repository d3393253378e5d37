//! Benchmark (issue #6a): diff a 10M-row customer model against its sync snapshot
//! with 1% of rows changed — updates, inserts and deletes — the peers' scenario P1
//! (`../shared/bench/peers/gen_customers.py`, DuckDB key+hash state ≈ 9 s, full join
//! ≈ 20 s on this machine). Prints the time and the peak memory of the diff alone
//! (the diff runs in a child process over the prepared warehouse), then the time to store
//! the plan.
//!
//! Data: the peers' own parquet files when `LOCKSTEP_BENCH_P1_DIR` holds
//! `customers_v1.parquet` and `customers_v2.parquet` (same data as the peers); else
//! generated here with the same shape and change rates. Size of generated data:
//! `LOCKSTEP_BENCH_ROWS` (default 10,000,000).
//! `LOCKSTEP_BENCH_DIFF_KEEP=DIR` prepares into DIR once and reuses it on later runs
//! (delete DIR after changing the snapshot format).
//! Run: `cargo bench --bench diff`. Target: ≤ 8 s and ≤ 2 GiB.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use lockstep::diff::{Mapped, Mode, Plan, SyncSpec, baseline, diff, plan};
use lockstep::warehouse::{Location, TableName, Warehouse};

mod common;
use common::{HandedOverDir, env_u64, peak_mib, reset_peak, run_child};

const COLUMNS: [&str; 12] = [
    "email",
    "first_name",
    "last_name",
    "phone",
    "country",
    "currency",
    "accepts_marketing",
    "orders_count",
    "total_spent",
    "tags",
    "created_at",
    "updated_at",
];

fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("email", DataType::Utf8, true),
        Field::new("first_name", DataType::Utf8, true),
        Field::new("last_name", DataType::Utf8, true),
        Field::new("phone", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
        Field::new("currency", DataType::Utf8, true),
        Field::new("accepts_marketing", DataType::Boolean, true),
        Field::new("orders_count", DataType::Int32, true),
        Field::new("total_spent", DataType::Decimal128(18, 2), true),
        Field::new("tags", DataType::Utf8, true),
        Field::new("created_at", ts.clone(), true),
        Field::new("updated_at", ts, true),
    ]))
}

fn mix(i: u64, salt: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

/// Customers `ids`, as version 1 (`v2 = false`) or version 2 (1% updated).
fn customers(ids: impl Iterator<Item = u64>, v2: bool) -> RecordBatch {
    const FIRST: [&str; 10] = [
        "Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo",
    ];
    const LAST: [&str; 10] = [
        "Silva", "Smith", "Wang", "Kumar", "Novak", "Garcia", "Muller", "Sato", "Okafor", "Rossi",
    ];
    const CC: [(&str, &str); 8] = [
        ("US", "USD"),
        ("GB", "GBP"),
        ("DE", "EUR"),
        ("FR", "EUR"),
        ("BR", "BRL"),
        ("JP", "JPY"),
        ("CA", "CAD"),
        ("AU", "AUD"),
    ];
    const TAGS: [&str; 4] = ["vip", "wholesale,vip", "", "newsletter"];
    let ids: Vec<u64> = ids.collect();
    let updated = |i: u64| v2 && mix(i, 1).is_multiple_of(100);
    let cc = |i: u64| CC[(mix(i, 5) % 8) as usize];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(ids.iter().map(|&i| i as i64))),
        Arc::new(StringArray::from_iter_values(
            ids.iter().map(|i| format!("cust{i}@example.com")),
        )),
        Arc::new(StringArray::from_iter_values(
            ids.iter().map(|&i| FIRST[(mix(i, 2) % 10) as usize]),
        )),
        Arc::new(StringArray::from_iter_values(
            ids.iter().map(|&i| LAST[(mix(i, 3) % 10) as usize]),
        )),
        Arc::new(StringArray::from_iter_values(
            ids.iter()
                .map(|&i| format!("+1555{:07}", mix(i, 4) % 10_000_000)),
        )),
        Arc::new(StringArray::from_iter_values(ids.iter().map(|&i| cc(i).0))),
        Arc::new(StringArray::from_iter_values(ids.iter().map(|&i| cc(i).1))),
        Arc::new(BooleanArray::from_iter(
            ids.iter().map(|&i| Some(mix(i, 6).is_multiple_of(2))),
        )),
        Arc::new(Int32Array::from_iter_values(
            ids.iter()
                .map(|&i| (mix(i, 7) % 40) as i32 + i32::from(updated(i))),
        )),
        Arc::new(
            Decimal128Array::from_iter_values(
                ids.iter()
                    .map(|&i| (mix(i, 8) % 500_000) as i128 + if updated(i) { 1999 } else { 0 }),
            )
            .with_precision_and_scale(18, 2)
            .unwrap_or_else(|_| unreachable!("valid precision")),
        ),
        Arc::new(StringArray::from_iter_values(
            ids.iter().map(|&i| TAGS[(mix(i, 9) % 4) as usize]),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                ids.iter().map(|&i| {
                    1_577_836_800_000_000 + (mix(i, 10) % 126_230_400) as i64 * 1_000_000
                }),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(ids.iter().map(|&i| {
                if updated(i) {
                    1_748_779_200_000_000
                } else {
                    1_704_067_200_000_000 + (mix(i, 11) % 31_536_000) as i64 * 1_000_000
                }
            }))
            .with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(schema(), columns).unwrap_or_else(|e| panic!("customers batch: {e}"))
}

/// Version 1: ids 1..=n. Version 2: v1 less 0.1% deleted, 1% updated, n/1000 new.
fn generated(n: u64, v2: bool) -> impl Iterator<Item = RecordBatch> {
    const CHUNK: u64 = 500_000;
    let total = if v2 { n + n / 1000 } else { n };
    (0..total.div_ceil(CHUNK)).map(move |c| {
        let ids = (c * CHUNK + 1..=((c + 1) * CHUNK).min(total)).filter(move |&i| {
            !(v2 && i <= n && mix(i, 12).is_multiple_of(1000) && !mix(i, 1).is_multiple_of(100))
        });
        customers(ids, v2)
    })
}

/// Replace `models.customers` with `batches`, a commit per million rows.
async fn load(
    warehouse: &Warehouse,
    batches: impl Iterator<Item = RecordBatch>,
) -> anyhow::Result<u64> {
    let table = TableName::new("models", "customers")?;
    let (mut pending, mut rows, mut first) = (Vec::new(), 0u64, true);
    let flush = |pending: &mut Vec<RecordBatch>, first: &mut bool| {
        let batches = std::mem::take(pending);
        let overwrite = std::mem::replace(first, false);
        let (warehouse, table) = (warehouse.clone(), table.clone());
        async move {
            if overwrite {
                warehouse.overwrite(&table, schema(), batches).await
            } else {
                warehouse.append(&table, schema(), batches).await
            }
        }
    };
    for b in batches {
        rows += b.num_rows() as u64;
        pending.push(b);
        if pending.iter().map(RecordBatch::num_rows).sum::<usize>() >= 1_000_000 {
            flush(&mut pending, &mut first).await?;
        }
    }
    if !pending.is_empty() {
        flush(&mut pending, &mut first).await?;
    }
    Ok(rows)
}

/// The peers' parquet file as batches of our schema (their timestamps carry no zone).
async fn peer_file(path: &str) -> anyhow::Result<Vec<RecordBatch>> {
    let ctx = SessionContext::new();
    let mut stream = ctx
        .read_parquet(path, ParquetReadOptions::default())
        .await?
        .execute_stream()
        .await?;
    let mut out = Vec::new();
    while let Some(b) = stream.next().await {
        let b = b?;
        let columns = schema()
            .fields()
            .iter()
            .map(|f| {
                let c = b
                    .column_by_name(f.name())
                    .ok_or_else(|| anyhow::anyhow!("{path}: no column {}", f.name()))?;
                Ok(arrow::compute::cast(c, f.data_type())?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        out.push(RecordBatch::try_new(schema(), columns)?);
    }
    Ok(out)
}

/// Where the diff's child process finds the warehouse prepared for it.
const PREPARED_ENV: &str = "LOCKSTEP_BENCH_DIFF_WAREHOUSE";

fn main() -> anyhow::Result<()> {
    lockstep::alloc::tune();
    let _handed_over = HandedOverDir::from_env();
    // Phase timings of the diff: RUST_LOG=lockstep::diff=debug.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // The diff runs in a child process over the prepared warehouse, so its peak
        // memory is its own, not what preparing 2 × 10M rows left in this heap.
        let prepared = std::env::var(PREPARED_ENV).ok();
        let dir = tempfile::tempdir()?;
        let keep = std::env::var("LOCKSTEP_BENCH_DIFF_KEEP").ok().filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
        let parent_root = keep.as_deref().unwrap_or(dir.path());
        let root = prepared.as_deref().map_or(parent_root, std::path::Path::new);
        let warehouse = Warehouse::open(Location::parse("file://./wh", root)?, &BTreeMap::new())?;
        let spec = SyncSpec {
            name: "bench".into(),
            model: "customers".into(),
            object: "contacts".into(),
            key_column: "customer_id".into(),
            key_field: "customer_id".into(),
            fields: COLUMNS.iter().map(|c| Mapped { field: c.to_string(), column: c.to_string() }).collect(),
            mode: Mode::Mirror { clear: false },
        };
        if prepared.is_none() {
            if keep.as_ref().is_some_and(|k| k.join("prepared").exists()) {
                println!("prepared: reusing {}", parent_root.display());
                return run_child(PREPARED_ENV, parent_root, keep.is_none());
            }
            let p1 = std::env::var("LOCKSTEP_BENCH_P1_DIR").ok();
            let n = env_u64("LOCKSTEP_BENCH_ROWS", 10_000_000);
            let t = Instant::now();
            let v1 = match &p1 {
                Some(d) => load(&warehouse, peer_file(&format!("{d}/customers_v1.parquet")).await?.into_iter()).await?,
                None => load(&warehouse, generated(n, false)).await?,
            };
            let acked = baseline(&warehouse, &spec).await?;
            let v2 = match &p1 {
                Some(d) => load(&warehouse, peer_file(&format!("{d}/customers_v2.parquet")).await?.into_iter()).await?,
                None => load(&warehouse, generated(n, true)).await?,
            };
            println!(
                "prepared ({}): v1 {v1} rows, snapshot {acked} rows, v2 {v2} rows in {:.1}s",
                p1.as_deref().unwrap_or("generated"),
                t.elapsed().as_secs_f64()
            );
            std::fs::write(parent_root.join("prepared"), "")?;
            return run_child(PREPARED_ENV, parent_root, keep.is_none());
        }
        reset_peak();
        let t = Instant::now();
        let d = diff(&warehouse, &spec).await?;
        let secs = t.elapsed().as_secs_f64();
        let peak = peak_mib();
        let c = d.counts;
        println!(
            "diff: {} rows vs snapshot → {} changes ({} update, {} insert, {} delete, {} unchanged) in {secs:.2}s; peak RSS {peak:.0} MiB",
            c.model_rows,
            d.changes.len(),
            c.updates,
            c.creates,
            c.deletes,
            c.unchanged
        );
        let t = Instant::now();
        let p = Plan::new(&spec, d);
        plan::save(&warehouse, &p).await?;
        println!("plan stored ({} rows) in {:.2}s", p.changes.len(), t.elapsed().as_secs_f64());
        Ok(())
    })
}
