//! `fx_daily('<table or SELECT>' [, 'YYYY-MM-DD'])`: FX rates forward-filled to one
//! row per calendar day and currency, so an as-of conversion (DataFusion has no ASOF
//! JOIN) becomes an equi-join on (date, currency).
//!
//! Input: the first three columns are (rate_date, currency, rate) — a date (or
//! anything castable to one), a currency code, and the rate in any numeric type
//! (Decimal128 stays Decimal128). Output: `(date DATE, currency TEXT, rate <input
//! type>, rate_date DATE)`: for each currency, every day from its first published
//! date through the end date, carrying the last rate published on or before that
//! day and the date it was published (`rate_date`, kept as `fx_rate_date` beside
//! every converted amount). Weekends and holidays therefore use the last business
//! day's rate. The end date is the second argument, else the later of the last
//! published date and today (UTC). If a currency has several rates on one day, the
//! last in input order wins.
//!
//! ```sql
//! SELECT o.id, o.total * r.rate AS total_eur, r.rate AS fx_rate_used, r.rate_date AS fx_rate_date
//! FROM models.orders o
//! JOIN fx_daily('raw_ecb.rates') r
//!   ON r.date = CAST(o.processed_at AS DATE) AND r.currency = o.currency
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, Date32Array, RecordBatch, StringArray, StringBuilder, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::{MemTable, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

/// The `fx_daily` table function.
#[derive(Debug)]
pub struct FxDaily;

impl TableFunctionImpl for FxDaily {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let source = super::string_literal(
            exprs,
            0,
            "fx_daily",
            "a table name or a SELECT returning (rate_date, currency, rate)",
        )?;
        let through = match exprs.len() {
            1 => None,
            _ => {
                let text = super::string_literal(exprs, 1, "fx_daily", "an end date 'YYYY-MM-DD'")?;
                Some(parse_date(&text)?)
            }
        };
        // The rate type is only known from the source; plan it now (cheap: no
        // execution) so the table function has a schema.
        let state = args
            .session()
            .as_any()
            .downcast_ref::<datafusion::execution::SessionState>()
            .ok_or_else(|| DataFusionError::Internal("fx_daily outside a SessionState".into()))?;
        let rate_type = futures::executor::block_on(rate_type(state, &source))?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, false),
            Field::new("currency", DataType::Utf8, false),
            Field::new("rate", rate_type, true),
            Field::new("rate_date", DataType::Date32, false),
        ]));
        Ok(Arc::new(FxTable {
            source,
            through,
            schema,
        }))
    }
}

async fn rate_type(state: &datafusion::execution::SessionState, source: &str) -> Result<DataType> {
    let ctx = datafusion::prelude::SessionContext::new_with_state(state.clone());
    let lower = source.to_ascii_lowercase();
    let sql = if lower.starts_with("select") || lower.starts_with("with") {
        source.to_string()
    } else {
        format!("SELECT * FROM {source}")
    };
    let plan = ctx.state().create_logical_plan(&sql).await?;
    let fields = plan.schema().fields();
    if fields.len() < 3 {
        return Err(DataFusionError::Plan(
            "fx_daily: the source must have three columns (rate_date, currency, rate)".into(),
        ));
    }
    Ok(fields[2].data_type().clone())
}

fn parse_date(text: &str) -> Result<i32> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|e| DataFusionError::Plan(format!("fx_daily: end date {text:?}: {e}")))?;
    Ok(days(date))
}

fn days(date: NaiveDate) -> i32 {
    (date - NaiveDate::default()).num_days() as i32
}

#[derive(Debug)]
struct FxTable {
    source: String,
    through: Option<i32>,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for FxTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = super::read_source(state, &self.source).await?;
        let today = days(chrono::Utc::now().date_naive());
        let batch = forward_fill(&input, self.through, today, &self.schema)?;
        MemTable::try_new(self.schema.clone(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// Fill every day from each currency's first rate through the end date.
pub fn forward_fill(
    input: &[RecordBatch],
    through: Option<i32>,
    today: i32,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let rate_type = schema.field(2).data_type().clone();
    // All rates in one array, so output rows can `take` from it whatever its type.
    let mut rate_parts = Vec::new();
    let mut by_currency: BTreeMap<String, BTreeMap<i32, u32>> = BTreeMap::new();
    let mut offset = 0u32;
    let mut last_published = i32::MIN;
    for batch in input {
        if batch.num_columns() < 3 {
            return Err(DataFusionError::Plan(
                "fx_daily: the source must have three columns (rate_date, currency, rate)".into(),
            ));
        }
        let dates = arrow::compute::cast(batch.column(0), &DataType::Date32)?;
        let dates = downcast::<Date32Array>(&dates)?;
        let currencies = arrow::compute::cast(batch.column(1), &DataType::Utf8)?;
        let currencies = downcast::<StringArray>(&currencies)?;
        rate_parts.push(arrow::compute::cast(batch.column(2), &rate_type)?);
        for i in 0..batch.num_rows() {
            if dates.is_null(i) || currencies.is_null(i) {
                continue;
            }
            let date = dates.value(i);
            last_published = last_published.max(date);
            by_currency
                .entry(currencies.value(i).to_string())
                .or_default()
                .insert(date, offset + i as u32);
        }
        offset += batch.num_rows() as u32;
    }
    let end = through.unwrap_or(last_published.max(today));
    let mut out_dates = Vec::new();
    let mut out_currencies = StringBuilder::new();
    let mut out_rows = Vec::new();
    let mut out_rate_dates = Vec::new();
    for (currency, rates) in &by_currency {
        let mut published = rates.iter().peekable();
        let Some((&first, _)) = published.peek().map(|(d, r)| (*d, *r)) else {
            continue;
        };
        let mut current: Option<(i32, u32)> = None;
        for day in first..=end {
            while let Some(&(&d, &row)) = published.peek() {
                if d > day {
                    break;
                }
                current = Some((d, row));
                published.next();
            }
            if let Some((rate_date, row)) = current {
                out_dates.push(day);
                out_currencies.append_value(currency);
                out_rows.push(row);
                out_rate_dates.push(rate_date);
            }
        }
    }
    let all_rates = if rate_parts.is_empty() {
        arrow::array::new_empty_array(&rate_type)
    } else {
        let refs: Vec<&dyn Array> = rate_parts.iter().map(|a| a.as_ref()).collect();
        arrow::compute::concat(&refs)?
    };
    let rates = arrow::compute::take(&all_rates, &UInt32Array::from(out_rows), None)?;
    Ok(RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Date32Array::from(out_dates)),
            Arc::new(out_currencies.finish()),
            rates,
            Arc::new(Date32Array::from(out_rate_dates)),
        ],
    )?)
}

fn downcast<T: 'static + Clone>(array: &arrow::array::ArrayRef) -> Result<T> {
    array
        .as_any()
        .downcast_ref::<T>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("unexpected array type after cast".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Float64Array;

    fn d(s: &str) -> i32 {
        parse_date(s).unwrap()
    }

    #[test]
    fn weekends_carry_fridays_rate_and_its_date() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("rate_date", DataType::Date32, true),
            Field::new("currency", DataType::Utf8, true),
            Field::new("rate", DataType::Float64, true),
        ]));
        // 2026-01-02 is a Friday; 2026-01-05 a Monday.
        let input = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Date32Array::from(vec![
                    d("2026-01-02"),
                    d("2026-01-05"),
                    d("2026-01-05"),
                ])),
                Arc::new(StringArray::from(vec!["USD", "USD", "GBP"])),
                Arc::new(Float64Array::from(vec![1.10, 1.20, 0.85])),
            ],
        )
        .unwrap();
        let out_schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, false),
            Field::new("currency", DataType::Utf8, false),
            Field::new("rate", DataType::Float64, true),
            Field::new("rate_date", DataType::Date32, false),
        ]));
        let out = forward_fill(&[input], Some(d("2026-01-06")), 0, &out_schema).unwrap();
        let rows: Vec<(i32, String, f64, i32)> = (0..out.num_rows())
            .map(|i| {
                (
                    downcast::<Date32Array>(out.column(0)).unwrap().value(i),
                    downcast::<StringArray>(out.column(1))
                        .unwrap()
                        .value(i)
                        .to_string(),
                    downcast::<Float64Array>(out.column(2)).unwrap().value(i),
                    downcast::<Date32Array>(out.column(3)).unwrap().value(i),
                )
            })
            .collect();
        // GBP from its first date (Mon) through Tue; USD Fri..Tue.
        assert_eq!(rows.len(), 2 + 5);
        assert_eq!(
            rows[0],
            (d("2026-01-05"), "GBP".into(), 0.85, d("2026-01-05"))
        );
        let sunday = rows
            .iter()
            .find(|r| r.1 == "USD" && r.0 == d("2026-01-04"))
            .unwrap();
        assert_eq!((sunday.2, sunday.3), (1.10, d("2026-01-02")));
        let tuesday = rows
            .iter()
            .find(|r| r.1 == "USD" && r.0 == d("2026-01-06"))
            .unwrap();
        assert_eq!((tuesday.2, tuesday.3), (1.20, d("2026-01-05")));
    }
}
