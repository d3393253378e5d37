//! Which tables a model's SQL reads, found by parsing it with DataFusion's SQL parser
//! (sqlparser's visitor) rather than by templating: plain names are the canonical
//! form. CTE names are scoped like DataFusion's own `resolve_table_references`, and
//! each reference keeps the position of its first identifier so an unknown table
//! can be reported at its place in the file.
//!
//! Table functions that read a table or query given as a string
//! (`connected_components('models.pairs')`, `fx_daily('SELECT ... FROM x')`) are
//! looked into too: the tables named in the string are dependencies, positioned at
//! the string literal.

use std::ops::ControlFlow;

use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Ident, ObjectName, Query, Statement, TableFactor, Value,
    Visit, Visitor,
};

use super::udf::SOURCE_TABLE_FUNCTIONS;

/// One table reference: normalized name parts and 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// `["models", "x"]`, `["x"]`, ... (unquoted identifiers lower-cased).
    pub parts: Vec<String>,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl TableRef {
    /// The name as written (normalized), dot-joined.
    pub fn display(&self) -> String {
        self.parts.join(".")
    }
}

/// Why a model's SQL cannot be analysed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseProblem {
    /// 1-based position, when the parser gave one.
    pub position: Option<(u64, u64)>,
    /// What is wrong.
    pub message: String,
}

/// Parse `sql` (one query) and list the tables it reads, first occurrence first.
pub fn table_references(sql: &str) -> Result<Vec<TableRef>, ParseProblem> {
    let statement = single_query(sql)?;
    let mut collector = Collector::default();
    let _ = statement.visit(&mut collector);
    if let Some(problem) = collector.problem {
        return Err(problem);
    }
    let mut unique: Vec<TableRef> = Vec::new();
    for r in collector.refs {
        if !unique.iter().any(|u| u.parts == r.parts) {
            unique.push(r);
        }
    }
    Ok(unique)
}

/// The one query statement of a model file.
fn single_query(sql: &str) -> Result<Statement, ParseProblem> {
    let mut statements = DFParser::parse_sql(sql).map_err(|e| {
        let located = crate::query::locate(e);
        // sqlparser gives no position for "found: EOF": point just past the
        // last non-blank character, where the query stopped short.
        let position = located.position.or_else(|| {
            located.message.contains("EOF").then(|| {
                let end = sql.trim_end().len();
                let (line, column) = super::sql_ref::line_col(sql, end);
                (line, column)
            })
        });
        ParseProblem {
            position,
            message: located.message,
        }
    })?;
    let whole = |message: &str| ParseProblem {
        position: Some((1, 1)),
        message: message.to_string(),
    };
    if statements.len() != 1 {
        return Err(whole(&format!(
            "a model is exactly one SELECT query; found {} statements",
            statements.len()
        )));
    }
    match statements.pop_front() {
        Some(DFStatement::Statement(s)) if matches!(*s, Statement::Query(_)) => Ok(*s),
        _ => Err(whole(
            "a model is one SELECT query (lockstep creates the table itself; no CREATE/INSERT)",
        )),
    }
}

#[derive(Default)]
struct Collector {
    refs: Vec<TableRef>,
    ctes_in_scope: Vec<String>,
    pushed: Vec<usize>,
    problem: Option<ParseProblem>,
}

fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn parts_of(name: &ObjectName) -> Option<(Vec<String>, u64, u64)> {
    let idents: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
    if idents.len() != name.0.len() {
        return None;
    }
    let first = idents.first()?;
    Some((
        idents.iter().map(|i| normalize(i)).collect(),
        first.span.start.line,
        first.span.start.column,
    ))
}

impl Collector {
    fn record(&mut self, name: &ObjectName) {
        let Some((parts, line, column)) = parts_of(name) else {
            return;
        };
        if parts.len() == 1 && self.ctes_in_scope.contains(&parts[0]) {
            return;
        }
        self.refs.push(TableRef {
            parts,
            line,
            column,
        });
    }

    /// The string argument of a table function that reads a table or a query.
    fn record_string_source(&mut self, text: &str, line: u64, column: u64) {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("select") || lower.starts_with("with") {
            match table_references(text) {
                Ok(inner) => {
                    self.refs
                        .extend(inner.into_iter().map(|r| TableRef { line, column, ..r }))
                }
                Err(p) => {
                    self.problem.get_or_insert(ParseProblem {
                        position: Some((line, column)),
                        message: format!("in the query string: {}", p.message),
                    });
                }
            }
        } else {
            let parts: Vec<String> = text.split('.').map(|p| p.trim().to_lowercase()).collect();
            if parts.iter().all(|p| !p.is_empty()) {
                self.refs.push(TableRef {
                    parts,
                    line,
                    column,
                });
            }
        }
    }
}

impl Visitor for Collector {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        let mut pushed = 0;
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                // A non-recursive CTE's own name is not in scope in its body, so
                // `WITH t AS (SELECT * FROM t)` reads the table t: visit it first.
                if !with.recursive {
                    cte.visit(self)?;
                }
                self.ctes_in_scope.push(normalize(&cte.alias.name));
                pushed += 1;
            }
        }
        self.pushed.push(pushed);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        let pushed = self.pushed.pop().unwrap_or(0);
        let keep = self.ctes_in_scope.len().saturating_sub(pushed);
        self.ctes_in_scope.truncate(keep);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, args, .. } = factor else {
            return ControlFlow::Continue(());
        };
        let Some(args) = args else {
            self.record(name);
            return ControlFlow::Continue(());
        };
        let function = name.to_string().to_lowercase();
        if !SOURCE_TABLE_FUNCTIONS.contains(&function.as_str()) {
            return ControlFlow::Continue(());
        }
        if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) = args.args.first()
            && let Value::SingleQuotedString(text) = &v.value
        {
            self.record_string_source(text, v.span.start.line, v.span.start.column);
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Vec<String> {
        table_references(sql)
            .unwrap()
            .iter()
            .map(TableRef::display)
            .collect()
    }

    #[test]
    fn plain_qualified_and_bare_names() {
        assert_eq!(
            names("SELECT * FROM models.a JOIN raw_shopify.Orders o ON true, b"),
            ["models.a", "raw_shopify.orders", "b"]
        );
    }

    #[test]
    fn ctes_are_not_tables_but_their_bodies_are_read() {
        assert_eq!(
            names(
                "WITH t AS (SELECT * FROM t), u AS (SELECT * FROM x) SELECT * FROM t JOIN u ON true"
            ),
            ["t", "x"]
        );
        assert_eq!(
            names("SELECT * FROM (WITH q AS (SELECT 1) SELECT * FROM q) s JOIN q ON true"),
            ["q"]
        );
    }

    #[test]
    fn subqueries_and_positions() {
        let refs =
            table_references("SELECT *\nFROM a\nWHERE id IN (SELECT id FROM   models.b)").unwrap();
        assert_eq!(refs[0].display(), "a");
        assert_eq!((refs[0].line, refs[0].column), (2, 6));
        assert_eq!(refs[1].display(), "models.b");
        assert_eq!((refs[1].line, refs[1].column), (3, 31));
    }

    #[test]
    fn table_function_strings_are_dependencies() {
        assert_eq!(
            names(
                "SELECT * FROM connected_components('models.pairs') c JOIN fx_daily('SELECT * FROM raw_ecb.rates') r ON true, generate_series(1, 3)"
            ),
            ["models.pairs", "raw_ecb.rates"]
        );
    }

    #[test]
    fn one_query_only() {
        assert!(table_references("SELECT 1; SELECT 2").is_err());
        assert!(table_references("CREATE TABLE x AS SELECT 1").is_err());
        let p = table_references("SELECT 1 FROM t\nWHERE (").unwrap_err();
        assert_eq!(p.position, Some((2, 8)), "{p:?}");
        let p = table_references("SELECT 1 FROM t\nWHERE  \n").unwrap_err();
        assert_eq!(p.position, Some((2, 6)), "{p:?}");
    }
}
