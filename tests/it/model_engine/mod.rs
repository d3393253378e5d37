//! The SQL model engine over real Delta tables in a temp dir: discovery, DAG order
//! and selection, ref()/source() sugar and plain names, fresh reads downstream,
//! located errors (broken SQL, cycles, unknown tables), data tests and their
//! results table, the UDFs and table functions, and the CLI verbs through the real
//! binary.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use lockstep::config::Project;
use lockstep::model::{self, ModelError};
use lockstep::warehouse::{TableName, Warehouse};

use crate::support::{self, lockstep};

mod dag;
mod data_tests;
mod errors;
mod functions;

const TOML: &str = "[warehouse]\nurl = \"file://./warehouse\"\n";

/// A project with `files` (path relative to the project → text).
fn project_with(files: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, dir) = support::project(TOML);
    for (path, text) in files {
        write(&dir, path, text);
    }
    (tmp, dir)
}

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn open(dir: &Path) -> (Project, Warehouse) {
    let project = Project::load(dir).unwrap();
    let warehouse = Warehouse::for_project(&project).unwrap();
    (project, warehouse)
}

/// raw_shop.orders: (id, customer, amount).
async fn seed_orders(wh: &Warehouse, rows: &[(i64, &str, i64)]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("customer", DataType::Utf8, true),
        Field::new("amount", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap();
    wh.overwrite(
        &TableName::new("raw_shop", "orders").unwrap(),
        schema,
        vec![batch],
    )
    .await
    .unwrap();
}

async fn build(
    project: &Project,
    wh: &Warehouse,
    select: &[&str],
) -> Result<model::RunReport, ModelError> {
    let select: Vec<String> = select.iter().map(|s| s.to_string()).collect();
    model::run(project, wh, &select, &mut |_| {}).await
}

/// Rows of a query as strings (NULL as "NULL"), one Vec per row.
async fn rows(wh: &Warehouse, sql: &str) -> Vec<Vec<String>> {
    let ctx = model::session::open(wh, &model::udf::Settings::default())
        .await
        .unwrap();
    let batches = lockstep::query::run(&ctx, sql).await.unwrap();
    crate::support::text_rows(&batches)
}

async fn version(wh: &Warehouse, name: &str) -> u64 {
    wh.require(&TableName::new("models", name).unwrap())
        .await
        .unwrap()
        .version()
        .unwrap()
}

const SHOP_MODELS: &[(&str, &str)] = &[
    (
        "models/staging/stg_orders.sql",
        "-- staging: sugar\nSELECT id, customer, amount\nFROM {{ source('shop', 'orders') }}\n",
    ),
    (
        "models/marts/customer_totals.sql",
        "SELECT customer, SUM(amount) AS total, COUNT(*) AS orders\nFROM {{ ref('stg_orders') }}\nGROUP BY customer\n",
    ),
    (
        "models/marts/big_customers.sql",
        "-- bare name resolves to the model\nSELECT customer, total FROM customer_totals WHERE total > 10\n",
    ),
    ("models/unrelated.sql", "SELECT 1 AS x"),
];
