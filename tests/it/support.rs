//! Shared helpers: running the real `lockstep` binary, temporary projects, Arrow
//! batches with the types the warehouse must carry (money, UTC times, nulls, JSON),
//! and serving a router on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{
    Decimal128Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The `lockstep` binary built for this test run.
pub fn lockstep_bin() -> &'static str {
    env!("CARGO_BIN_EXE_lockstep")
}

/// Run `lockstep --project <dir> <args>`.
pub fn lockstep(dir: &Path, args: &[&str]) -> Output {
    Command::new(lockstep_bin())
        .arg("--project")
        .arg(dir)
        .args(args)
        .env_remove("LOCKSTEP_FAILPOINT")
        .output()
        .expect("the lockstep binary runs")
}

/// A project directory with a lockstep.toml whose extra text is `body`.
pub fn project(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    std::fs::write(path.join("lockstep.toml"), body).expect("write lockstep.toml");
    (dir, path)
}

/// The orders-like schema used across warehouse tests.
pub fn orders_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("batch", DataType::Int64, false),
        Field::new("total_price", DataType::Decimal128(18, 2), true),
        Field::new(
            "processed_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("email", DataType::Utf8, true),
        Field::new("_raw", DataType::Utf8, true),
    ]))
}

/// `rows` orders of batch `batch`: ids `batch*1000 + i`, prices `i + 0.99`, every
/// third email null, processed times one minute apart from 2026-01-01T00:00:00Z.
pub fn orders_batch(batch: i64, rows: i64) -> RecordBatch {
    let ids: Vec<i64> = (0..rows).map(|i| batch * 1000 + i).collect();
    let prices: Vec<Option<i128>> = (0..rows).map(|i| Some(i as i128 * 100 + 99)).collect();
    let times: Vec<Option<i64>> = (0..rows)
        .map(|i| Some(1_767_225_600_000_000 + i * 60_000_000))
        .collect();
    let emails: Vec<Option<String>> = (0..rows)
        .map(|i| (i % 3 != 0).then(|| format!("c{i}@example.com")))
        .collect();
    let raws: Vec<String> = ids
        .iter()
        .map(|id| format!(r#"{{"id":{id},"line_items":[{{"sku":"A","qty":2}}],"note":null}}"#))
        .collect();
    RecordBatch::try_new(
        orders_schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(Int64Array::from(vec![batch; rows as usize])),
            Arc::new(
                Decimal128Array::from(prices)
                    .with_precision_and_scale(18, 2)
                    .expect("valid decimal"),
            ),
            Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
            Arc::new(StringArray::from(emails)),
            Arc::new(StringArray::from(raws)),
        ],
    )
    .expect("valid batch")
}

/// stdout of a successful run; panics with stderr otherwise.
pub fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "lockstep failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Rows of query results as text (NULL as "NULL"), one Vec per row.
pub fn text_rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    use arrow::array::{Array, AsArray};
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<arrow::array::ArrayRef> = b
            .columns()
            .iter()
            .map(|c| arrow::compute::cast(c, &DataType::Utf8).expect("castable to text"))
            .collect();
        for i in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .map(|c| {
                        let c = c.as_string::<i32>();
                        if c.is_null(i) {
                            "NULL".into()
                        } else {
                            c.value(i).to_string()
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

/// Start `cmd` with its stderr piped, wait (up to 2 min) until it reports reaching
/// the commit failpoint `LOCKSTEP_FAILPOINT=warehouse.before_commit:pause@N` set on
/// it, then SIGKILL it there. Panics naming `what` when it never gets there.
pub async fn kill_at_commit_failpoint(cmd: &mut std::process::Command, what: &str) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reached = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("failpoint warehouse.before_commit reached"))
    });
    let reached = tokio::time::timeout(std::time::Duration::from_secs(120), reached)
        .await
        .unwrap()
        .unwrap();
    assert!(reached, "{what} never reached the failpoint");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Serve `router` on a free port of 127.0.0.1 for the rest of the test; its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}
