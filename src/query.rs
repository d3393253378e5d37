//! Running SQL text and reporting errors at their place in that text. DataFusion puts
//! positions in two places: parser messages ("... at Line: 2, Column: 7") and, when
//! span collection is on, structured diagnostics. Both are mapped to one
//! `line:column`, which the CLI and the model engine prefix with a file name.

use arrow::array::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};

/// An SQL error with its position in the query text, when one is known.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", position.map(|(l, c)| format!("{l}:{c}: ")).unwrap_or_default())]
pub struct QueryError {
    /// 1-based line and column in the SQL text.
    pub position: Option<(u64, u64)>,
    /// What went wrong, on one line.
    pub message: String,
    /// The underlying error.
    #[source]
    pub source: DataFusionError,
}

/// Session settings every lockstep session uses: spans collected so planning errors
/// can point into the SQL.
pub fn configure(config: SessionConfig) -> SessionConfig {
    config.set_bool("datafusion.sql_parser.collect_spans", true)
}

/// Plan and execute `sql` in `ctx`, collecting all batches.
pub async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
    let df = ctx.sql(sql).await.map_err(locate)?;
    df.collect().await.map_err(locate)
}

/// Attach a position to a DataFusion error.
pub fn locate(err: DataFusionError) -> QueryError {
    let diagnostic = err.diagnostic().and_then(|d| {
        d.span
            .filter(|s| s.start.line > 0)
            .map(|s| ((s.start.line, s.start.column), d.message.clone()))
    });
    let text = err.strip_backtrace().replace('\n', " ");
    let (position, message) = match diagnostic {
        Some((pos, _)) => (Some(pos), text),
        None => (parse_position(&text), text),
    };
    QueryError {
        position,
        message,
        source: err,
    }
}

/// Find sqlparser's "Line: L, Column: C" in a message.
fn parse_position(message: &str) -> Option<(u64, u64)> {
    let at = message.rfind("Line: ")?;
    let rest = &message[at + "Line: ".len()..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parser_errors_carry_line_and_column() {
        let ctx = SessionContext::new_with_config(configure(SessionConfig::new()));
        let err = run(&ctx, "SELECT 1,\n  FROM WHERE").await.unwrap_err();
        assert_eq!(err.position.map(|p| p.0), Some(2), "{err}");
    }

    #[tokio::test]
    async fn unknown_table_is_located_at_its_reference() {
        let ctx = SessionContext::new_with_config(configure(SessionConfig::new()));
        let err = run(&ctx, "SELECT *\nFROM   nowhere").await.unwrap_err();
        assert!(err.message.contains("nowhere"), "{err}");
        assert_eq!(err.position, Some((2, 8)), "{err}");
    }

    #[test]
    fn position_parsing() {
        assert_eq!(
            parse_position("sql parser error: Expected: x, found: y at Line: 3, Column: 14"),
            Some((3, 14))
        );
        assert_eq!(parse_position("no position"), None);
    }
}
