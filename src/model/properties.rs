//! Per-model properties and data tests, in dbt-style YAML beside the SQL: any
//! `.yml`/`.yaml` file under models/ (e.g. `models/orders.yml`, a folder's
//! `schema.yml` or `_models.yml`) with
//!
//! ```yaml
//! models:
//!   - name: orders
//!     description: One row per order.
//!     config: { materialized: table, unique_key: order_id }
//!     columns:
//!       - name: order_id
//!         description: Store order id.
//!         data_tests: [unique, not_null]
//!       - name: status
//!         data_tests:
//!           - accepted_values: { values: [open, closed] }
//!       - name: customer_id
//!         data_tests:
//!           - relationships: { to: ref('customers'), field: customer_id }
//!     data_tests:
//!       - sql: "SELECT * FROM {{ this }} WHERE net_sales > gross_sales"
//! ```
//!
//! Custom assertions are `sql:` entries: a query returning the failing rows (empty
//! means pass), with `{{ this }}`, `ref()` and plain names available. Every struct
//! rejects unknown keys, so a typo (`data_test:`, `materialised:`) is an error with
//! file:line instead of a silently skipped test. `tests:` is accepted as dbt's older
//! spelling of `data_tests:`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::{ModelError, Result};

/// One YAML properties file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PropertiesFile {
    /// dbt files carry `version: 2`; accepted and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<u32>,
    #[serde(default)]
    models: Vec<Spanned<ModelProperties>>,
}

/// What a YAML file says about one model.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelProperties {
    /// The model's name (its SQL file's stem).
    pub name: String,
    /// What one row is and what the model is for.
    #[serde(default)]
    pub description: Option<String>,
    /// How the model is built.
    #[serde(default)]
    pub config: ModelConfig,
    /// Column documentation and column tests.
    #[serde(default)]
    pub columns: Vec<ColumnProperties>,
    /// Model-level tests (custom SQL assertions).
    #[serde(default, alias = "tests")]
    pub data_tests: Vec<TestSpec>,
}

/// `config:` of a model.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `table` (default) or `view`.
    #[serde(default)]
    pub materialized: Materialized,
    /// Column(s) identifying a row; syncs use it as the destination key.
    #[serde(default)]
    pub unique_key: Option<UniqueKey>,
}

/// How a model is built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Materialized {
    /// A Delta table `models.<name>`, replaced atomically on every run.
    #[default]
    Table,
    /// A view defined in the session for downstream models and tests; not persisted.
    View,
}

impl Materialized {
    /// `table` or `view`.
    pub fn as_str(self) -> &'static str {
        match self {
            Materialized::Table => "table",
            Materialized::View => "view",
        }
    }
}

/// One column or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum UniqueKey {
    /// `unique_key: id`
    One(String),
    /// `unique_key: [shop, id]`
    Many(Vec<String>),
}

impl UniqueKey {
    /// The key's columns.
    pub fn columns(&self) -> Vec<String> {
        match self {
            UniqueKey::One(c) => vec![c.clone()],
            UniqueKey::Many(cs) => cs.clone(),
        }
    }
}

/// What a YAML file says about one column.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnProperties {
    /// The column's name.
    pub name: String,
    /// What it holds (units, currency, time zone).
    #[serde(default)]
    pub description: Option<String>,
    /// Documented type, for readers (not enforced).
    #[serde(default)]
    pub data_type: Option<String>,
    /// Tests of this column.
    #[serde(default, alias = "tests")]
    pub data_tests: Vec<TestSpec>,
}

/// A data test. Generic tests are written like dbt's (`unique`, `not_null`,
/// `accepted_values: {values: [...]}`, `relationships: {to: ref('x'), field: y}`);
/// `sql:` is a query returning failing rows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestSpec {
    /// No two rows share a non-null value.
    Unique,
    /// No null values.
    NotNull,
    /// Every non-null value is one of `values`.
    AcceptedValues(AcceptedValues),
    /// Every non-null value exists in `to`.`field`.
    Relationships(Relationships),
    /// A query returning the failing rows.
    Sql(String),
}

/// Arguments of `accepted_values`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptedValues {
    /// The allowed values.
    pub values: Vec<Scalar>,
}

/// Arguments of `relationships`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relationships {
    /// The referenced table: `ref('x')`, `models.x`, `raw_shopify.customers` or `x`.
    pub to: String,
    /// The referenced column.
    pub field: String,
}

/// A YAML scalar usable as an SQL literal.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A decimal number.
    Float(f64),
    /// Text.
    Text(String),
}

impl Scalar {
    /// The value as an SQL literal.
    pub fn to_sql(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Text(s) => format!("'{}'", s.replace('\'', "''")),
        }
    }
}

/// Properties found for one model, with the file that declared them.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The properties.
    pub properties: ModelProperties,
    /// The YAML file, relative to the project.
    pub file: String,
    /// 1-based line of the model's entry.
    pub line: u64,
}

/// Parse one YAML file's text; `file` names it in errors. Returns each model's
/// properties with its line.
pub fn parse(text: &str, file: &str) -> Result<Vec<Declared>> {
    let parsed: PropertiesFile = serde_saphyr::from_str(text).map_err(|e| yaml_error(file, &e))?;
    Ok(parsed
        .models
        .into_iter()
        .map(|m| Declared {
            line: m.referenced.line(),
            properties: m.value,
            file: file.to_string(),
        })
        .collect())
}

/// Merge declarations from several files into one map by model name; a model
/// declared twice is an error at the second declaration.
pub fn merge(all: Vec<Declared>) -> Result<BTreeMap<String, Declared>> {
    let mut out: BTreeMap<String, Declared> = BTreeMap::new();
    for d in all {
        if let Some(first) = out.get(&d.properties.name) {
            return Err(ModelError::at(
                &d.file,
                d.line,
                1,
                format!(
                    "model {:?} is already described in {}:{}",
                    d.properties.name, first.file, first.line
                ),
            ));
        }
        out.insert(d.properties.name.clone(), d);
    }
    Ok(out)
}

fn yaml_error(file: &str, e: &serde_saphyr::Error) -> ModelError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    // The rendered error can carry a source snippet over several lines; keep the
    // first line, which holds the message.
    let rendered = e.to_string();
    let first = rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid YAML");
    ModelError::at(file, line, column, strip_location(first))
}

/// serde-saphyr prefixes messages with `error: line L column C: `; the position is
/// already in front of the whole line, so drop the repetition.
fn strip_location(message: &str) -> String {
    let rest = message.strip_prefix("error: ").unwrap_or(message);
    let without = rest.strip_prefix("line ").and_then(|r| {
        let (_, after) = r.split_once(": ")?;
        r.split_whitespace()
            .nth(1)
            .is_some_and(|w| w == "column")
            .then_some(after)
    });
    without.unwrap_or(rest).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version: 2\nmodels:\n  - name: orders\n    description: One row per order.\n    config: { materialized: view, unique_key: [shop, id] }\n    columns:\n      - name: id\n        data_tests: [unique, not_null]\n      - name: status\n        tests:\n          - accepted_values: { values: [open, 2, true] }\n          - relationships: { to: ref('x'), field: y }\n    data_tests:\n      - sql: SELECT 1 WHERE false\n";

    #[test]
    fn dbt_style_properties_parse() {
        let d = parse(GOOD, "models/orders.yml").unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line, 3);
        let p = &d[0].properties;
        assert_eq!(p.config.materialized, Materialized::View);
        assert_eq!(
            p.config.unique_key.as_ref().map(UniqueKey::columns),
            Some(vec!["shop".to_string(), "id".to_string()])
        );
        assert_eq!(
            p.columns[0].data_tests,
            [TestSpec::Unique, TestSpec::NotNull]
        );
        assert_eq!(
            p.columns[1].data_tests[0],
            TestSpec::AcceptedValues(AcceptedValues {
                values: vec![
                    Scalar::Text("open".into()),
                    Scalar::Int(2),
                    Scalar::Bool(true)
                ]
            })
        );
        assert_eq!(p.data_tests, [TestSpec::Sql("SELECT 1 WHERE false".into())]);
    }

    #[test]
    fn unknown_keys_are_errors_with_file_and_line() {
        let text = "models:\n  - name: orders\n    columns:\n      - name: id\n        data_test: [unique]\n";
        let err = parse(text, "models/orders.yml").unwrap_err().to_string();
        assert!(err.starts_with("models/orders.yml:5:"), "{err}");
        assert!(err.contains("data_test"), "{err}");
        assert!(!err.contains("line 5"), "position repeated: {err}");
        let err = parse(
            "models:\n  - name: a\n    config: {materialized: ephemeral}\n",
            "f.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("f.yml:3:"), "{err}");
        let err = parse("models:\n  - name: a\n    data_tests: [uniq]\n", "f.yml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f.yml:3:"), "{err}");
    }

    #[test]
    fn a_model_described_twice_is_an_error() {
        let a = parse("models:\n  - name: x\n", "a.yml").unwrap();
        let b = parse("\nmodels:\n  - name: x\n", "b.yml").unwrap();
        let err = merge(a.into_iter().chain(b).collect())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("b.yml:3:1:") && err.contains("a.yml:2"),
            "{err}"
        );
    }
}
