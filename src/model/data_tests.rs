//! Data tests: each test is a query returning the failing rows; empty means pass.
//! Generic tests (`unique`, `not_null`, `accepted_values`, `relationships`) are
//! generated from YAML; `sql:` tests are written by hand. Results of every
//! `lockstep test` are appended to `meta.test_results` (one row per test, all rows
//! of one invocation sharing `run_at`), which is what the sync gate reads: a model
//! whose latest tested run has a failing test blocks every sync reading from it,
//! until the tests pass again.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::error::{ModelError, Result};
use super::project::{Model, ModelSet};
use super::properties::{Materialized, TestSpec};
use super::{session, sql_ref};
use crate::warehouse::{TableName, Warehouse};

/// How many failing rows a report shows.
pub const SAMPLE_ROWS: usize = 5;

/// One test, ready to run.
#[derive(Debug, Clone, Serialize)]
pub struct DataTest {
    /// The model tested.
    pub model: String,
    /// Unique within the model: `unique_id`, `accepted_values_status`, `sql_1`, ...
    pub name: String,
    /// The column, for column tests.
    pub column: Option<String>,
    /// The query returning failing rows.
    pub sql: String,
}

/// The outcome of one test.
#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    /// The test.
    pub test: DataTest,
    /// `pass`, `fail` (rows returned) or `error` (the query failed).
    pub status: &'static str,
    /// How many rows failed.
    pub failing_rows: u64,
    /// Why the query failed, for `error`.
    pub message: Option<String>,
    /// Up to [`SAMPLE_ROWS`] failing rows.
    #[serde(skip)]
    pub sample: Vec<RecordBatch>,
}

/// What one `lockstep test` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TestReport {
    /// When the tests ran (shared by all their rows in `meta.test_results`).
    pub run_at: Option<chrono::DateTime<chrono::Utc>>,
    /// One outcome per test, models in build order.
    pub outcomes: Vec<TestOutcome>,
}

impl TestReport {
    /// Whether every test passed.
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.status == "pass")
    }
}

/// The table the results go to.
pub fn results_table() -> TableName {
    TableName::new("meta", "test_results").unwrap_or_else(|_| unreachable!("valid literal name"))
}

static RESULTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(
            "run_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("model", DataType::Utf8, false),
        Field::new("test", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("failing_rows", DataType::Int64, false),
        Field::new("model_version", DataType::Int64, true),
        Field::new("message", DataType::Utf8, true),
    ]))
});

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The tests declared for `model`.
pub fn tests_of(model: &Model) -> Result<Vec<DataTest>> {
    let file = model
        .properties_file
        .clone()
        .unwrap_or_else(|| model.file.clone());
    let this = format!("models.{}", model.name);
    let mut tests: Vec<DataTest> = Vec::new();
    let mut add = |name: String, column: Option<String>, sql: String| {
        let mut unique = name.clone();
        let mut n = 2;
        while tests.iter().any(|t| t.name == unique) {
            unique = format!("{name}_{n}");
            n += 1;
        }
        tests.push(DataTest {
            model: model.name.clone(),
            name: unique,
            column,
            sql,
        });
    };
    for column in &model.properties.columns {
        let c = quote(&column.name);
        for spec in &column.data_tests {
            let (kind, sql) = match spec {
                TestSpec::Unique => (
                    "unique",
                    format!(
                        "SELECT {c}, COUNT(*) AS occurrences FROM {this} WHERE {c} IS NOT NULL GROUP BY {c} HAVING COUNT(*) > 1"
                    ),
                ),
                TestSpec::NotNull => (
                    "not_null",
                    format!("SELECT * FROM {this} WHERE {c} IS NULL"),
                ),
                TestSpec::AcceptedValues(a) => {
                    let values: Vec<String> = a.values.iter().map(|v| v.to_sql()).collect();
                    let sql = if values.is_empty() {
                        format!("SELECT * FROM {this} WHERE {c} IS NOT NULL")
                    } else {
                        format!(
                            "SELECT * FROM {this} WHERE {c} IS NOT NULL AND {c} NOT IN ({})",
                            values.join(", ")
                        )
                    };
                    ("accepted_values", sql)
                }
                TestSpec::Relationships(r) => {
                    // dbt writes `to: ref('x')` without braces; accept both.
                    let to = r.to.trim();
                    let to = if to.starts_with("ref(") || to.starts_with("source(") {
                        format!("{{{{ {to} }}}}")
                    } else {
                        to.to_string()
                    };
                    let to = sql_ref::rewrite(&to, None)
                        .map_err(|e| ModelError::File {
                            file: file.clone(),
                            message: format!("{}: relationships.to: {}", model.name, e.message),
                        })?
                        .trim()
                        .to_string();
                    let f = quote(&r.field);
                    (
                        "relationships",
                        format!(
                            "SELECT * FROM {this} WHERE {c} IS NOT NULL AND {c} NOT IN (SELECT {f} FROM {to} WHERE {f} IS NOT NULL)"
                        ),
                    )
                }
                TestSpec::Sql(sql) => ("sql", custom_sql(model, &file, sql)?),
            };
            add(
                format!("{kind}_{}", column.name),
                Some(column.name.clone()),
                sql,
            );
        }
    }
    for (i, spec) in model.properties.data_tests.iter().enumerate() {
        match spec {
            TestSpec::Sql(sql) => add(
                format!("sql_{}", i + 1),
                None,
                custom_sql(model, &file, sql)?,
            ),
            other => {
                return Err(ModelError::File {
                    file,
                    message: format!(
                        "model {}: {other:?} needs a column; put it under columns: - name: ... data_tests:",
                        model.name
                    ),
                });
            }
        }
    }
    Ok(tests)
}

fn custom_sql(model: &Model, file: &str, sql: &str) -> Result<String> {
    let rewritten = sql_ref::rewrite(sql, Some(&model.name)).map_err(|e| ModelError::File {
        file: file.to_string(),
        message: format!("{}: sql test: {}", model.name, e.message),
    })?;
    Ok(rewritten.trim().trim_end_matches(';').to_string())
}

/// Run the tests of the `selected` models and append their results to
/// `meta.test_results`.
pub async fn run(
    warehouse: &Warehouse,
    set: &ModelSet,
    selected: &BTreeSet<String>,
) -> Result<TestReport> {
    let ctx = session::open(warehouse, set.settings()).await?;
    session::define_views_for(&ctx, set, selected).await?;
    let run_at = chrono::Utc::now();
    let mut report = TestReport {
        run_at: Some(run_at),
        outcomes: Vec::new(),
    };
    let mut versions = Vec::new();
    for model in set.in_order().filter(|m| selected.contains(&m.name)) {
        let tests = tests_of(model)?;
        if tests.is_empty() {
            continue;
        }
        let version = match model.materialized() {
            Materialized::Table => match warehouse.load(&model.table()?).await? {
                Some(t) => t.version().map(|v| v as i64),
                None => {
                    for test in tests {
                        report.outcomes.push(error_outcome(
                            test,
                            format!(
                                "models.{} has not been built yet (run `lockstep run`)",
                                model.name
                            ),
                        ));
                        versions.push(None);
                    }
                    continue;
                }
            },
            Materialized::View => None,
        };
        for test in tests {
            report.outcomes.push(run_one(&ctx, test).await);
            versions.push(version);
        }
    }
    record(warehouse, &report, &versions).await?;
    Ok(report)
}

fn error_outcome(test: DataTest, message: String) -> TestOutcome {
    TestOutcome {
        test,
        status: "error",
        failing_rows: 0,
        message: Some(message),
        sample: Vec::new(),
    }
}

async fn run_one(ctx: &SessionContext, test: DataTest) -> TestOutcome {
    let count_sql = format!("SELECT COUNT(*) AS n FROM ({}) AS failing", test.sql);
    let count = match crate::query::run(ctx, &count_sql).await {
        Ok(batches) => first_i64(&batches).unwrap_or(0),
        Err(e) => return error_outcome(test, e.message),
    };
    if count == 0 {
        return TestOutcome {
            test,
            status: "pass",
            failing_rows: 0,
            message: None,
            sample: Vec::new(),
        };
    }
    let sample_sql = format!(
        "SELECT * FROM ({}) AS failing LIMIT {SAMPLE_ROWS}",
        test.sql
    );
    match crate::query::run(ctx, &sample_sql).await {
        Ok(sample) => TestOutcome {
            test,
            status: "fail",
            failing_rows: count as u64,
            message: None,
            sample,
        },
        Err(e) => error_outcome(test, e.message),
    }
}

fn first_i64(batches: &[RecordBatch]) -> Option<i64> {
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    let column = arrow::compute::cast(batch.column(0), &DataType::Int64).ok()?;
    let ints = column.as_any().downcast_ref::<Int64Array>()?;
    (!ints.is_null(0)).then(|| ints.value(0))
}

async fn record(
    warehouse: &Warehouse,
    report: &TestReport,
    versions: &[Option<i64>],
) -> Result<()> {
    if report.outcomes.is_empty() {
        return Ok(());
    }
    let run_at = report
        .run_at
        .unwrap_or_else(chrono::Utc::now)
        .timestamp_micros();
    let o = &report.outcomes;
    let batch = RecordBatch::try_new(
        RESULTS_SCHEMA.clone(),
        vec![
            Arc::new(TimestampMicrosecondArray::from(vec![run_at; o.len()]).with_timezone("UTC")),
            Arc::new(StringArray::from_iter_values(
                o.iter().map(|x| x.test.model.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                o.iter().map(|x| x.test.name.as_str()),
            )),
            Arc::new(
                o.iter()
                    .map(|x| x.test.column.as_deref())
                    .collect::<StringArray>(),
            ),
            Arc::new(StringArray::from_iter_values(o.iter().map(|x| x.status))),
            Arc::new(Int64Array::from_iter_values(
                o.iter().map(|x| x.failing_rows as i64),
            )),
            Arc::new(Int64Array::from(versions.to_vec())),
            Arc::new(
                o.iter()
                    .map(|x| x.message.as_deref())
                    .collect::<StringArray>(),
            ),
        ],
    )
    .map_err(|e| ModelError::Results(e.to_string()))?;
    warehouse
        .append(&results_table(), RESULTS_SCHEMA.clone(), vec![batch])
        .await?;
    Ok(())
}

/// A test that did not pass in its model's latest test run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedTest {
    /// The model.
    pub model: String,
    /// The test.
    pub test: String,
    /// `fail` or `error`.
    pub status: String,
    /// Rows that failed.
    pub failing_rows: i64,
}

/// Failing tests of the given models, each judged by its latest test run (a model
/// never tested has no failures).
pub async fn failed_tests(
    warehouse: &Warehouse,
    models: &BTreeSet<String>,
) -> Result<Vec<FailedTest>> {
    let name = results_table();
    let Some(table) = warehouse.load(&name).await? else {
        return Ok(Vec::new());
    };
    let ctx = SessionContext::new();
    table
        .update_datafusion_session(&ctx.state())
        .map_err(|e| ModelError::Results(e.to_string()))?;
    let provider = table
        .table_provider()
        .await
        .map_err(|e| ModelError::Results(e.to_string()))?;
    ctx.register_table("test_results", provider)?;
    let sql = "WITH latest AS (SELECT model, MAX(run_at) AS run_at FROM test_results GROUP BY model) \
               SELECT t.model, t.test, t.status, t.failing_rows FROM test_results t \
               JOIN latest l ON (t.model = l.model) AND (t.run_at = l.run_at) \
               WHERE t.status <> 'pass' ORDER BY t.model, t.test";
    let batches = crate::query::run(&ctx, sql)
        .await
        .map_err(|e| ModelError::Results(e.to_string()))?;
    let mut out = Vec::new();
    for batch in &batches {
        let text = |i: usize| -> Result<StringArray> {
            let c = arrow::compute::cast(batch.column(i), &DataType::Utf8)
                .map_err(|e| ModelError::Results(e.to_string()))?;
            c.as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(|| ModelError::Results("unexpected column type".into()))
        };
        let (model, test, status) = (text(0)?, text(1)?, text(2)?);
        let rows = arrow::compute::cast(batch.column(3), &DataType::Int64)
            .map_err(|e| ModelError::Results(e.to_string()))?;
        let rows = rows
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| ModelError::Results("unexpected column type".into()))?;
        for i in 0..batch.num_rows() {
            if models.contains(model.value(i)) {
                out.push(FailedTest {
                    model: model.value(i).to_string(),
                    test: test.value(i).to_string(),
                    status: status.value(i).to_string(),
                    failing_rows: rows.value(i),
                });
            }
        }
    }
    Ok(out)
}

/// Whether `model`'s latest test run passed (true when it was never tested).
pub async fn tests_passing(warehouse: &Warehouse, model: &str) -> Result<bool> {
    let models = BTreeSet::from([model.to_string()]);
    Ok(failed_tests(warehouse, &models).await?.is_empty())
}

/// Failing tests on `model` or any model it reads, directly or not: a sync reading
/// `model` must not push while this is non-empty.
pub async fn failed_upstream(
    warehouse: &Warehouse,
    set: &ModelSet,
    model: &str,
) -> Result<Vec<FailedTest>> {
    let mut models = set.ancestors(model);
    models.insert(model.to_string());
    failed_tests(warehouse, &models).await
}
