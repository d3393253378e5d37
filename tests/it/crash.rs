//! Crash safety: a writer killed with SIGKILL after its data files are written but
//! before its commit leaves the table at the previous version, and the next write
//! succeeds; for an append and for a streamed overwrite (how models are written,
//! one writer per partition). The writer is this test binary re-run as a child process with the
//! `warehouse.before_commit` failpoint set, so the kill lands exactly in that gap.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use lockstep::warehouse::{Location, TableName, Warehouse};

use crate::support::{orders_batch, orders_schema};

const CHILD_ENV: &str = "LOCKSTEP_CRASH_CHILD_DIR";
/// Which write the child makes: `append` or `overwrite`.
const WRITE_ENV: &str = "LOCKSTEP_CRASH_CHILD_WRITE";

fn open(dir: &Path) -> Warehouse {
    Warehouse::open(
        Location::parse("file://./wh", dir).unwrap(),
        &BTreeMap::new(),
    )
    .unwrap()
}

fn table() -> TableName {
    TableName::parse("raw_shopify.orders").unwrap()
}

fn data_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("wh/raw_shopify/orders"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
        .count()
}

/// Child entry point, not a test of its own: run only by the test below, which sets
/// the environment it needs.
#[tokio::test]
#[ignore = "child process of the kill tests below"]
async fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let wh = open(Path::new(&dir));
    if std::env::var(WRITE_ENV).as_deref() == Ok("overwrite") {
        let partition = |batch| {
            Box::pin(
                datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                    orders_schema(),
                    futures::stream::iter([Ok(orders_batch(batch, 25))]),
                ),
            ) as datafusion::physical_plan::SendableRecordBatchStream
        };
        wh.overwrite_streams(&table(), orders_schema(), vec![partition(2), partition(2)])
            .await
            .unwrap();
    } else {
        wh.append(&table(), orders_schema(), vec![orders_batch(2, 25)])
            .await
            .unwrap();
    }
    panic!("the failpoint should have stopped this write before its commit");
}

#[tokio::test]
async fn sigkill_between_data_files_and_commit_keeps_previous_version() {
    killed_before_commit("append").await;
}

#[tokio::test]
async fn sigkill_before_a_streamed_overwrite_commits_keeps_previous_version() {
    killed_before_commit("overwrite").await;
}

/// Kill a child making `write` at the commit failpoint, then check nothing of it
/// shows and the table takes the next write.
async fn killed_before_commit(write: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let wh = open(dir);
    let before = wh
        .append(&table(), orders_schema(), vec![orders_batch(1, 10)])
        .await
        .unwrap();
    let files_before = data_files(dir);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash::crash_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, dir)
        .env(WRITE_ENV, write)
        .env("LOCKSTEP_FAILPOINT", "warehouse.before_commit:pause")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("failpoint warehouse.before_commit reached") {
                let _ = tx.send(());
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let reached = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    if reached.is_err() {
        let _ = child.kill();
        panic!("the child never reached the failpoint");
    }
    // The gap the test is about: the new data files exist, the commit does not.
    assert!(
        data_files(dir) > files_before,
        "the child wrote no data files"
    );
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success());

    let after = open(dir);
    let info = after.info(&table()).await.unwrap();
    assert_eq!(
        info.version, before.version,
        "the killed write must not be visible"
    );
    assert_eq!(info.rows, 10);
    let ctx = after.session().await.unwrap();
    let n = ctx
        .sql("SELECT count(*) FROM raw_shopify.orders WHERE batch = 2")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(n[0].column(0).as_primitive::<Int64Type>().value(0), 0);

    let next = after
        .append(&table(), orders_schema(), vec![orders_batch(3, 5)])
        .await
        .unwrap();
    assert_eq!(next.version, before.version + 1);
    assert_eq!(after.info(&table()).await.unwrap().rows, 15);
}
