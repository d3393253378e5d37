//! What `lockstep compile` and `lockstep docs` show: the resolved graph with each
//! model's final SQL, and each model's columns (from the materialized table, else
//! by planning its SQL), descriptions and tests.

use std::collections::BTreeSet;

use datafusion::common::TableReference;
use serde::Serialize;

use super::data_tests;
use super::error::Result;
use super::project::{ModelSet, Target};
use super::properties::Materialized;
use super::session;
use crate::warehouse::Warehouse;

/// One model as compiled.
#[derive(Debug, Clone, Serialize)]
pub struct Compiled {
    /// The model.
    pub name: String,
    /// Its SQL file.
    pub file: String,
    /// `table` or `view`.
    pub materialized: Materialized,
    /// Models it reads.
    pub depends_on: Vec<String>,
    /// Warehouse tables it reads that no model builds.
    pub sources: Vec<String>,
    /// The SQL that runs (after `ref()`/`source()` rewriting).
    pub sql: String,
}

/// Every model in build order.
pub fn compile(set: &ModelSet) -> Vec<Compiled> {
    set.in_order()
        .map(|m| {
            let mut depends_on = BTreeSet::new();
            let mut sources = BTreeSet::new();
            for r in &m.reads {
                match &r.target {
                    Target::Model(name) => {
                        depends_on.insert(name.clone());
                    }
                    Target::Table(t) => {
                        sources.insert(t.to_string());
                    }
                    Target::System => {}
                }
            }
            Compiled {
                name: m.name.clone(),
                file: m.file.clone(),
                materialized: m.materialized(),
                depends_on: depends_on.into_iter().collect(),
                sources: sources.into_iter().collect(),
                // The padded form keeps error positions; people read the compact one.
                sql: super::sql_ref::rewrite_compact(&m.raw_sql, Some(&m.name))
                    .unwrap_or_else(|_| m.sql.clone()),
            }
        })
        .collect()
}

/// A column as documented.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnDoc {
    /// Name.
    pub name: String,
    /// Arrow type, when the table exists or the SQL plans.
    pub data_type: Option<String>,
    /// From YAML.
    pub description: Option<String>,
    /// Test names on this column.
    pub tests: Vec<String>,
}

/// A model as documented.
#[derive(Debug, Clone, Serialize)]
pub struct ModelDoc {
    /// The model.
    pub name: String,
    /// Its SQL file.
    pub file: String,
    /// `table` or `view`.
    pub materialized: Materialized,
    /// From YAML.
    pub description: Option<String>,
    /// Key columns from YAML.
    pub unique_key: Vec<String>,
    /// Models it reads.
    pub depends_on: Vec<String>,
    /// Columns: the result's, in order, then any documented but missing.
    pub columns: Vec<ColumnDoc>,
    /// Model-level tests.
    pub tests: Vec<String>,
    /// Why the columns could not be determined, if so.
    pub note: Option<String>,
}

/// Document every model.
pub async fn docs(warehouse: &Warehouse, set: &ModelSet) -> Result<Vec<ModelDoc>> {
    let ctx = session::open(warehouse, set.settings()).await?;
    let mut out = Vec::new();
    for (model, compiled) in set.in_order().zip(compile(set)) {
        let tests = data_tests::tests_of(model)?;
        // Columns: the materialized table for tables; planning for views and tables
        // not built yet (possible when what they read exists).
        let planned = match model.materialized() {
            Materialized::View => session::define_view(&ctx, model).await.map(|_| ()),
            Materialized::Table => Ok(()),
        };
        let schema = match planned {
            Ok(()) => match ctx
                .table(TableReference::partial("models", model.name.as_str()))
                .await
            {
                Ok(df) => Ok(df.schema().as_arrow().clone()),
                Err(_) => ctx
                    .sql(&model.sql)
                    .await
                    .map(|df| df.schema().as_arrow().clone())
                    .map_err(|e| crate::query::locate(e).message),
            },
            Err(e) => Err(e.to_string()),
        };
        let (fields, note) = match schema {
            Ok(s) => (
                s.fields()
                    .iter()
                    .map(|f| (f.name().clone(), Some(f.data_type().to_string())))
                    .collect::<Vec<_>>(),
                None,
            ),
            Err(e) => (Vec::new(), Some(e)),
        };
        let mut columns: Vec<ColumnDoc> = fields
            .into_iter()
            .map(|(name, data_type)| ColumnDoc {
                name,
                data_type,
                description: None,
                tests: Vec::new(),
            })
            .collect();
        for c in &model.properties.columns {
            let idx = match columns.iter().position(|x| x.name == c.name) {
                Some(i) => i,
                None => {
                    columns.push(ColumnDoc {
                        name: c.name.clone(),
                        data_type: c.data_type.clone(),
                        description: None,
                        tests: Vec::new(),
                    });
                    columns.len() - 1
                }
            };
            columns[idx].description = c.description.clone();
            columns[idx].tests = tests
                .iter()
                .filter(|t| t.column.as_deref() == Some(c.name.as_str()))
                .map(|t| t.name.clone())
                .collect();
        }
        out.push(ModelDoc {
            name: model.name.clone(),
            file: model.file.clone(),
            materialized: model.materialized(),
            description: model.properties.description.clone(),
            unique_key: model
                .properties
                .config
                .unique_key
                .as_ref()
                .map(|k| k.columns())
                .unwrap_or_default(),
            depends_on: compiled.depends_on,
            columns,
            tests: tests
                .iter()
                .filter(|t| t.column.is_none())
                .map(|t| t.name.clone())
                .collect(),
            note,
        });
    }
    Ok(out)
}
