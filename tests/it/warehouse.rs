//! The warehouse layer: round trips of the types money and audit data need, atomic
//! commits under concurrent readers, crash safety, and the state store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Decimal128Type, Int64Type, TimestampMicrosecondType};
use lockstep::warehouse::{Location, TableName, Warehouse};

use crate::support::{self, orders_batch, orders_schema};

fn open(url: &str, dir: &std::path::Path) -> Warehouse {
    Warehouse::open(
        Location::parse(url, dir).expect("valid url"),
        &BTreeMap::new(),
    )
    .expect("opens")
}

async fn read_all(wh: &Warehouse, sql: &str) -> Vec<RecordBatch> {
    let ctx = wh.session().await.expect("session");
    ctx.sql(sql)
        .await
        .expect("plans")
        .collect()
        .await
        .expect("runs")
}

/// The first row of `sql`'s result, every column read as an Int64.
async fn first_row(wh: &Warehouse, sql: &str) -> Vec<i64> {
    let b = read_all(wh, sql).await;
    b[0].columns()
        .iter()
        .map(|c| c.as_primitive::<Int64Type>().value(0))
        .collect()
}

/// A text column as Utf8 (DataFusion may hand back Utf8View).
fn text(batch: &RecordBatch, name: &str) -> arrow::array::ArrayRef {
    arrow::compute::cast(
        batch.column_by_name(name).unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap()
}

async fn round_trip(wh: &Warehouse) {
    let name = TableName::parse("raw_shopify.orders").unwrap();
    let written = orders_batch(1, 10);
    let commit = wh
        .append(&name, orders_schema(), vec![written.clone()])
        .await
        .unwrap();
    assert_eq!(commit.rows, 10);
    let batches = read_all(wh, "SELECT * FROM raw_shopify.orders ORDER BY id").await;
    let got = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(got.num_rows(), 10);
    // Money stays exact decimal, times stay UTC microseconds, nulls stay null, JSON text
    // is unchanged byte for byte.
    let price = got
        .column_by_name("total_price")
        .unwrap()
        .as_primitive::<Decimal128Type>();
    assert_eq!(
        price.data_type(),
        &arrow::datatypes::DataType::Decimal128(18, 2)
    );
    assert_eq!(price.value(3), 399);
    let ts = got
        .column_by_name("processed_at")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.timezone(), Some("UTC"));
    assert_eq!(ts.value(2), 1_767_225_600_000_000 + 120_000_000);
    let email = text(&got, "email");
    let email = email.as_string::<i32>();
    assert!(email.is_null(0) && email.is_null(3) && !email.is_null(1));
    let raw = text(&got, "_raw");
    let raw = raw.as_string::<i32>();
    let want = written.column_by_name("_raw").unwrap().as_string::<i32>();
    for i in 0..10 {
        assert_eq!(raw.value(i), want.value(i));
    }
    let info = wh.info(&name).await.unwrap();
    assert_eq!(info.rows, 10);
}

#[tokio::test]
async fn round_trip_through_memory() {
    let wh = open("memory://round_trip", std::path::Path::new("/"));
    round_trip(&wh).await;
}

#[tokio::test]
async fn round_trip_through_file_and_lockstep_sql() {
    let (_tmp, dir) = support::project("[warehouse]\nurl = \"file://./wh\"\n");
    let wh = open("file://./wh", &dir);
    round_trip(&wh).await;
    // The same table through the CLI, as JSON and as CSV.
    let out = support::lockstep(
        &dir,
        &[
            "sql",
            "--json",
            "SELECT id, total_price, processed_at, email FROM raw_shopify.orders WHERE id = 1001",
        ],
    );
    let rows: serde_json::Value = serde_json::from_str(support::stdout_ok(&out).trim()).unwrap();
    assert_eq!(rows[0]["id"], 1001);
    // Exact decimal text, not a float rendering.
    assert_eq!(rows[0]["total_price"].to_string(), "1.99");
    assert_eq!(rows[0]["email"], "c1@example.com");
    assert!(
        rows[0]["processed_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-01T00:01:00")
    );
    let out = support::lockstep(
        &dir,
        &[
            "sql",
            "--csv",
            "SELECT count(*) AS n, sum(total_price) AS s FROM raw_shopify.orders",
        ],
    );
    assert_eq!(support::stdout_ok(&out).trim(), "n,s\n10,54.90");
}

#[tokio::test]
async fn appending_a_different_schema_is_refused_and_loses_nothing() {
    let wh = open("memory://schema_drift", std::path::Path::new("/"));
    let name = TableName::parse("raw_shopify.orders").unwrap();
    wh.append(&name, orders_schema(), vec![orders_batch(1, 5)])
        .await
        .unwrap();
    let other = arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
        "id",
        arrow::datatypes::DataType::Utf8,
        false,
    )]);
    let bad = RecordBatch::try_new(
        Arc::new(other.clone()),
        vec![Arc::new(arrow::array::StringArray::from(vec!["x"]))],
    )
    .unwrap();
    let err = wh
        .append(&name, Arc::new(other), vec![bad])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("schema mismatch") && err.contains("raw_shopify.orders"),
        "{err}"
    );
    assert_eq!(wh.info(&name).await.unwrap().rows, 5);
}

#[tokio::test]
async fn overwrite_replaces_rows_and_schema_atomically() {
    let wh = open("memory://overwrite", std::path::Path::new("/"));
    let name = TableName::parse("models.daily").unwrap();
    wh.append(&name, orders_schema(), vec![orders_batch(1, 5)])
        .await
        .unwrap();
    let commit = wh
        .overwrite(&name, orders_schema(), vec![orders_batch(2, 3)])
        .await
        .unwrap();
    assert_eq!(commit.version, 2);
    let sql = "SELECT min(batch) AS lo, count(*) AS n FROM models.daily";
    assert_eq!(first_row(&wh, sql).await, [2, 3]);
}

type Batches = Vec<Result<RecordBatch, datafusion::error::DataFusionError>>;

/// One output partition of a query yielding `batches`.
fn partition(
    schema: arrow::datatypes::SchemaRef,
    batches: Batches,
) -> datafusion::physical_plan::SendableRecordBatchStream {
    Box::pin(
        datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(batches),
        ),
    )
}

/// A warehouse at `url` whose `models.daily` holds five orders of batch 1.
async fn five_orders(url: &str) -> (Warehouse, TableName) {
    let wh = open(url, std::path::Path::new("/"));
    let name = TableName::parse("models.daily").unwrap();
    wh.append(&name, orders_schema(), vec![orders_batch(1, 5)])
        .await
        .unwrap();
    (wh, name)
}

/// A streamed overwrite (how models are written) replaces the rows and counts them,
/// each partition in files of its own; a partition that fails part-way commits
/// nothing and hands back that partition's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_overwrite_replaces_rows_or_commits_nothing() {
    use datafusion::error::DataFusionError;
    use lockstep::warehouse::StreamWriteError;

    let (wh, name) = five_orders("memory://streamed").await;
    let streams = vec![
        partition(
            orders_schema(),
            vec![Ok(orders_batch(2, 3)), Ok(orders_batch(3, 4))],
        ),
        // An empty first batch does not hide the rows after it.
        partition(
            orders_schema(),
            vec![Ok(orders_batch(9, 0)), Ok(orders_batch(4, 6))],
        ),
        partition(orders_schema(), vec![]),
    ];
    let commit = wh
        .overwrite_streams(&name, orders_schema(), streams)
        .await
        .unwrap();
    assert_eq!((commit.version, commit.rows), (2, 13));
    let count = "SELECT min(batch) AS lo, max(batch) AS hi, count(*) AS n FROM models.daily";
    assert_eq!(first_row(&wh, count).await, [2, 4, 13]);
    // The old file is gone from the table; each partition with rows wrote one.
    let info = wh.info(&name).await.unwrap();
    assert_eq!((info.files, info.rows), (2, 13));

    for failing_first in [true, false] {
        let good = partition(orders_schema(), vec![Ok(orders_batch(5, 3))]);
        let bad = partition(
            orders_schema(),
            vec![
                Ok(orders_batch(6, 3)),
                Err(DataFusionError::Execution("boom".into())),
            ],
        );
        let streams = if failing_first {
            vec![bad, good]
        } else {
            vec![good, bad]
        };
        match wh.overwrite_streams(&name, orders_schema(), streams).await {
            Err(StreamWriteError::Query(e)) => assert!(e.to_string().contains("boom"), "{e}"),
            other => panic!("expected the stream's error, got {other:?}"),
        }
        assert_eq!(first_row(&wh, count).await, [2, 4, 13]);
        assert_eq!(wh.info(&name).await.unwrap().version, 2);
    }

    // No rows at all: the table is emptied, its schema kept.
    let commit = wh
        .overwrite_streams(&name, orders_schema(), vec![])
        .await
        .unwrap();
    assert_eq!((commit.version, commit.rows), (3, 0));
    let rows = "SELECT count(*) AS n FROM models.daily";
    assert_eq!(first_row(&wh, rows).await, [0]);
    assert_eq!(wh.info(&name).await.unwrap().files, 0);
}

/// A streamed overwrite whose result has other columns than the table replaces the
/// schema too, from every partition; a failing partition leaves the old schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_overwrite_with_new_columns_replaces_the_schema() {
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::error::DataFusionError;
    use lockstep::warehouse::StreamWriteError;

    let (wh, name) = five_orders("memory://reshaped").await;
    let schema = Arc::new(Schema::new(vec![
        Field::new("day", DataType::Int64, true),
        Field::new("orders", DataType::Int64, true),
    ]));
    let batch = |days: std::ops::Range<i64>| {
        let orders: Vec<i64> = days.clone().map(|d| d * 10).collect();
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(days)),
                Arc::new(Int64Array::from(orders)),
            ],
        )
        .unwrap()
    };
    let failing = vec![
        partition(schema.clone(), vec![Ok(batch(0..3))]),
        partition(
            schema.clone(),
            vec![Err(DataFusionError::Execution("late".into()))],
        ),
    ];
    match wh.overwrite_streams(&name, schema.clone(), failing).await {
        Err(StreamWriteError::Query(e)) => assert!(e.to_string().contains("late"), "{e}"),
        other => panic!("expected the stream's error, got {other:?}"),
    }
    let b = read_all(
        &wh,
        "SELECT count(*) AS n, min(batch) AS b FROM models.daily",
    )
    .await;
    assert_eq!(b[0].column(0).as_primitive::<Int64Type>().value(0), 5);

    let streams = vec![
        partition(schema.clone(), vec![Ok(batch(0..3))]),
        partition(schema.clone(), vec![Ok(batch(3..7))]),
    ];
    let commit = wh
        .overwrite_streams(&name, schema.clone(), streams)
        .await
        .unwrap();
    assert_eq!(commit.rows, 7);
    let sql = "SELECT count(*) AS n, sum(orders) AS s FROM models.daily";
    assert_eq!(first_row(&wh, sql).await, [7, 210]);
}

/// A reader polling while 50 commits land sees, for every batch, all of its rows or
/// none — never part of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_partial_batch_during_50_commits() {
    const ROWS: i64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let wh = open("file://./wh", dir.path());
    let name = TableName::parse("raw_shopify.orders").unwrap();
    wh.append(&name, orders_schema(), vec![orders_batch(0, ROWS)])
        .await
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (wh, done) = (wh.clone(), done.clone());
        tokio::spawn(async move {
            let mut observations = 0;
            let mut last_total = 0;
            while !done.load(Ordering::Relaxed) || observations < 5 {
                let b = read_all(
                    &wh,
                    "SELECT batch, count(*) AS n FROM raw_shopify.orders GROUP BY batch",
                )
                .await;
                let mut total = 0;
                for batch in &b {
                    let counts = batch.column(1).as_primitive::<Int64Type>();
                    for i in 0..batch.num_rows() {
                        assert_eq!(counts.value(i), ROWS, "a batch was visible only in part");
                        total += counts.value(i);
                    }
                }
                assert!(total >= last_total, "a committed batch disappeared");
                last_total = total;
                observations += 1;
            }
            observations
        })
    };
    for batch in 1..=50 {
        // Two Arrow batches per commit: the commit must still be all or nothing.
        let half = ROWS / 2;
        let full = orders_batch(batch, ROWS);
        let parts = vec![
            full.slice(0, half as usize),
            full.slice(half as usize, half as usize),
        ];
        wh.append(&name, orders_schema(), parts).await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let observations = reader.await.unwrap();
    assert!(observations >= 5);
    let info = wh.info(&name).await.unwrap();
    assert_eq!(info.rows, 51 * ROWS as u64);
    // 51 appends passed the compaction threshold: small files were merged.
    assert!(info.files < 51, "files were not compacted: {}", info.files);
}

#[tokio::test]
async fn state_store_keeps_the_newest_value_and_commits_keys_together() {
    let dir = tempfile::tempdir().unwrap();
    let wh = open("file://./wh", dir.path());
    let state = wh.state();
    assert_eq!(state.get("cursor", "shopify.orders").await.unwrap(), None);
    state
        .put(
            "cursor",
            &[
                ("shopify.orders", Some("2026-01-01T00:00:00Z".into())),
                ("shopify.customers", Some(7.into())),
            ],
        )
        .await
        .unwrap();
    state
        .put(
            "cursor",
            &[("shopify.orders", Some("2026-02-01T00:00:00Z".into()))],
        )
        .await
        .unwrap();
    state
        .put(
            "checkpoint",
            &[("backfill", Some(serde_json::json!({"window": 3})))],
        )
        .await
        .unwrap();
    // A fresh handle (another process would do the same) sees the committed state.
    let again = open("file://./wh", dir.path()).state();
    let cursors = again.all("cursor").await.unwrap();
    assert_eq!(cursors.len(), 2);
    assert_eq!(cursors["shopify.orders"], "2026-02-01T00:00:00Z");
    assert_eq!(cursors["shopify.customers"], 7);
    again
        .put("cursor", &[("shopify.customers", None)])
        .await
        .unwrap();
    assert_eq!(
        again.get("cursor", "shopify.customers").await.unwrap(),
        None
    );
    assert_eq!(
        again.get("checkpoint", "backfill").await.unwrap().unwrap()["window"],
        3
    );
}
