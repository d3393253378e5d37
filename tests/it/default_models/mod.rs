//! The default models in `models/`, built by the real engine: over a hand-built
//! fixture store (`fixture`), their values checked to the cent against hand-computed
//! figures (`fixture_values`), and over a generated sandbox store landed through the
//! Shopify connector (`sandbox_store`), checked against totals computed from the raw
//! JSON.

mod fixture;
mod fixture_values;
mod sandbox_store;

use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use lockstep::config::Project;
use lockstep::extract::EntitySchema;
use lockstep::extract::columns::{Stamp, to_batch};
use lockstep::model;
use lockstep::warehouse::{TableName, Warehouse};
use serde_json::Value;

/// ECB reference rates in the ECB CSV format (newest first, trailing comma, N/A).
const ECB_CSV: &str = "Date,USD,GBP,JPY,\n\
2026-03-09,1.6000,0.8000,N/A,\n\
2026-03-06,1.2500,0.8500,160.00,\n\
2026-03-05,2.0000,0.9000,161.00,\n";

/// Rates for the sandbox store: one USD publication long before any order.
const SANDBOX_ECB_CSV: &str = "Date,USD,\n2000-01-03,1.1000,\n";

/// Copy the repository's default models (SQL and YAML, not its seeds) to
/// `<dir>/models`, with `ecb_csv` as the project's ECB seed: the tests' rates stay the
/// same whether the rates reach `raw_seeds.ecb_rates` through a seed loader or
/// through `land_ecb`.
fn default_models_with_seed(dir: &std::path::Path, ecb_csv: &str) {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap();
            if path.is_dir() {
                if name != "seeds" {
                    copy(&path, &to.join(name));
                }
            } else if path
                .extension()
                .is_some_and(|e| e == "sql" || e == "yml" || e == "yaml")
            {
                std::fs::copy(&path, to.join(name)).unwrap();
            }
        }
    }
    let models = dir.join("models");
    copy(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models")),
        &models,
    );
    std::fs::create_dir_all(models.join("seeds")).unwrap();
    std::fs::write(models.join("seeds/ecb_rates.csv"), ecb_csv).unwrap();
}

/// The ECB reference-rate CSV (wide: `Date,<currency>...`) as long rows
/// `(rate_date, currency, rate)`, all text: what a seed importer lands as
/// `raw_seeds.ecb_rates`.
fn ecb_long(csv: &str) -> Vec<(String, String, String)> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap().split(',').map(str::trim).collect();
    let mut out = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        for (currency, rate) in header.iter().zip(&cells).skip(1) {
            if !currency.is_empty() && !rate.is_empty() {
                out.push((cells[0].to_string(), currency.to_string(), rate.to_string()));
            }
        }
    }
    out
}

async fn land_ecb(wh: &Warehouse, csv: &str) {
    let rows = ecb_long(csv);
    let schema = Arc::new(Schema::new(vec![
        Field::new("rate_date", DataType::Utf8, true),
        Field::new("currency", DataType::Utf8, true),
        Field::new("rate", DataType::Utf8, true),
    ]));
    let col = |f: fn(&(String, String, String)) -> &str| {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as Arc<dyn Array>
    };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![col(|r| &r.0), col(|r| &r.1), col(|r| &r.2)],
    )
    .unwrap();
    wh.overwrite(
        &TableName::new("raw_seeds", "ecb_rates").unwrap(),
        schema,
        vec![batch],
    )
    .await
    .unwrap();
}

/// Append `records` to `raw_<source>.<entity>` as one landing batch.
async fn land(wh: &Warehouse, source: &str, schema: &EntitySchema, records: &[Value], batch: &str) {
    let refs: Vec<&Value> = records.iter().collect();
    let stamp = Stamp {
        source_name: source,
        extracted_at_us: 1_773_000_000_000_000,
        batch_id: batch,
    };
    let rb = to_batch(schema, &refs, &stamp).unwrap();
    wh.append(
        &TableName::new(&format!("raw_{source}"), schema.entity).unwrap(),
        schema.arrow_schema(),
        vec![rb],
    )
    .await
    .unwrap();
}

/// A project over the repository's `models/` with EUR reporting, plus its warehouse.
async fn built() -> (tempfile::TempDir, Project, Warehouse) {
    built_with(r#"["shop", "hubspot", "klaviyo"]"#).await
}

/// The fixture built with `source_priority` (a TOML array).
async fn built_with(source_priority: &str) -> (tempfile::TempDir, Project, Warehouse) {
    let (tmp, dir) = crate::support::project(&format!(
        "[project]\nreporting_currency = \"EUR\"\n\
         source_priority = {source_priority}\n\
         [warehouse]\nurl = \"file://./warehouse\"\n"
    ));
    default_models_with_seed(&dir, ECB_CSV);
    let project = Project::load(&dir).unwrap();
    let wh = Warehouse::for_project(&project).unwrap();
    fixture::land_fixture(&wh).await;
    let report = model::run(&project, &wh, &[], &mut |_| {}).await.unwrap();
    drop(report);
    (tmp, project, wh)
}

/// Rows of a query as strings (NULL as "NULL").
async fn rows(project: &Project, wh: &Warehouse, sql: &str) -> Vec<Vec<String>> {
    let set = model::load(project, wh).await.unwrap();
    let settings = model::udf::Settings::of(project);
    let ctx = model::session::open(wh, &settings).await.unwrap();
    let wanted = set.in_order().map(|m| m.name.clone()).collect();
    model::session::define_views_for(&ctx, &set, &wanted)
        .await
        .unwrap();
    let batches = lockstep::query::run(&ctx, sql).await.unwrap();
    crate::support::text_rows(&batches)
}

fn table(rows: &[Vec<String>]) -> Vec<String> {
    rows.iter().map(|r| r.join(" | ")).collect()
}

/// Each data test that did not pass: model.test, status, failing rows, message and
/// the sample rows.
fn failing_tests(report: &model::TestReport) -> Vec<String> {
    report
        .outcomes
        .iter()
        .filter(|o| o.status != "pass")
        .map(|o| {
            let sample = arrow::util::pretty::pretty_format_batches(&o.sample)
                .map(|t| t.to_string())
                .unwrap_or_default();
            format!(
                "{}.{} {} {} {:?}\n{sample}",
                o.test.model, o.test.name, o.status, o.failing_rows, o.message
            )
        })
        .collect()
}
