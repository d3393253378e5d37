//! Functions available to every model (and to `lockstep sql` through the model
//! session): scalar UDFs for identity normalisation and table functions for the
//! computations plain SQL on DataFusion does badly.
//!
//! | function | kind | module |
//! |---|---|---|
//! | `canonical_email(text)` | scalar | [`email`] |
//! | `e164(phone, default_region)` | scalar | [`phone`] |
//! | `utc_iso8601(timestamp)` | scalar | [`iso_time`] |
//! | `connected_components('<table or SELECT>')` | table | [`identity`] |
//! | `fx_daily('<table or SELECT>' [, 'YYYY-MM-DD'])` | table | [`fx`] |
//! | `reporting_currency()`, `source_priority(source)` | scalar | [`settings`] |
//! | `min_by(value, key)` | aggregate | [`min_by`] |

pub mod email;
pub mod fx;
pub mod identity;
pub mod iso_time;
pub mod min_by;
pub mod phone;
mod phone_fast;
mod phone_patterns;
pub mod settings;

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::{AggregateUDF, ColumnarValue, Expr, ScalarUDF};
use datafusion::prelude::SessionContext;

/// Table functions whose first argument names a table or holds a query: the model
/// engine reads that string for dependencies.
pub const SOURCE_TABLE_FUNCTIONS: &[&str] = &["connected_components", "fx_daily"];

pub use settings::Settings;

/// Register every lockstep function in `ctx`, with the project's `settings`.
pub fn register(ctx: &SessionContext, settings: &Settings) {
    ctx.register_udf(ScalarUDF::from(settings::ReportingCurrency::new(settings)));
    ctx.register_udf(ScalarUDF::from(settings::SourcePriority::new(settings)));
    ctx.register_udf(ScalarUDF::from(email::CanonicalEmail::new()));
    ctx.register_udf(ScalarUDF::from(phone::E164::new()));
    ctx.register_udf(ScalarUDF::from(iso_time::UtcIso8601::new()));
    ctx.register_udaf(AggregateUDF::from(min_by::MinBy::new()));
    ctx.register_udtf(
        "connected_components",
        Arc::new(identity::ConnectedComponents),
    );
    ctx.register_udtf("fx_daily", Arc::new(fx::FxDaily));
}

/// Argument `i` of a scalar function as a `Utf8` array of the batch's length.
fn utf8_arg(
    args: &[ColumnarValue],
    i: usize,
    rows: usize,
) -> datafusion::common::Result<StringArray> {
    let arg = args
        .get(i)
        .ok_or_else(|| DataFusionError::Plan(format!("missing argument {}", i + 1)))?;
    let array: ArrayRef = arg.to_array(rows)?;
    let array = arrow::compute::cast(&array, &DataType::Utf8)?;
    array
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("cast to Utf8 did not give a string array".into()))
}

/// The string literal at argument `i` of a table function call.
fn string_literal(
    exprs: &[Expr],
    i: usize,
    function: &str,
    what: &str,
) -> datafusion::common::Result<String> {
    match exprs.get(i) {
        Some(Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        )) => Ok(s.trim().to_string()),
        _ => Err(DataFusionError::Plan(format!(
            "{function}: argument {} must be a string literal: {what}",
            i + 1
        ))),
    }
}

/// Collect the rows of a table name or a query given as a string, in the session
/// the table function is called from (so models, views and UDFs are visible).
async fn read_source(
    state: &dyn datafusion::catalog::Session,
    source: &str,
) -> datafusion::common::Result<Vec<arrow::array::RecordBatch>> {
    let state = state
        .as_any()
        .downcast_ref::<datafusion::execution::SessionState>()
        .ok_or_else(|| DataFusionError::Internal("table function outside a SessionState".into()))?;
    let ctx = SessionContext::new_with_state(state.clone());
    let lower = source.to_ascii_lowercase();
    let sql = if lower.starts_with("select") || lower.starts_with("with") {
        source.to_string()
    } else {
        format!("SELECT * FROM {source}")
    };
    ctx.sql(&sql).await?.collect().await
}
