//! dbt-style sugar in model SQL: `{{ ref('x') }}` → `models.x`,
//! `{{ source('shopify', 'orders') }}` → `raw_shopify.orders`, `{{ this }}` → the
//! model's own table. Plain names are the canonical form; the sugar is rewritten
//! before parsing so dependency extraction sees one kind of reference.
//!
//! Positions are kept: a replacement is padded with spaces to the length of the
//! template it replaces (and keeps its newlines), so a parser error at line L,
//! column C of the rewritten SQL is at line L, column C of the file. Only `this`
//! can be longer than its template; it shifts the rest of its own line.

/// A template the rewriter does not understand, at 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct SugarError {
    /// 1-based line of the `{{`.
    pub line: u64,
    /// 1-based column of the `{{`.
    pub column: u64,
    /// What is wrong.
    pub message: String,
}

/// Rewrite every `{{ ... }}` in `sql`, keeping positions. `this` is the model's own
/// name, if any.
pub fn rewrite(sql: &str, this: Option<&str>) -> Result<String, SugarError> {
    rewrite_with(sql, this, true)
}

/// Rewrite for reading (`lockstep compile`): no padding after replacements.
pub fn rewrite_compact(sql: &str, this: Option<&str>) -> Result<String, SugarError> {
    rewrite_with(sql, this, false)
}

fn rewrite_with(sql: &str, this: Option<&str>, keep_positions: bool) -> Result<String, SugarError> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    let mut consumed = 0usize;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let at = consumed + start;
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(error(sql, at, "`{{` without a closing `}}`"));
        };
        let template = &rest[start..start + 2 + end + 2];
        let replacement = expand(after[..end].trim(), this).map_err(|m| error(sql, at, &m))?;
        if keep_positions {
            out.push_str(&pad(&replacement, template));
        } else {
            out.push_str(&replacement);
        }
        let used = start + template.len();
        consumed += used;
        rest = &rest[used..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The table name a template expression stands for.
fn expand(expr: &str, this: Option<&str>) -> Result<String, String> {
    if expr == "this" {
        return this
            .map(|name| format!("models.{name}"))
            .ok_or_else(|| "`this` is only defined inside a model's tests".to_string());
    }
    let (func, args) = expr
        .split_once('(')
        .and_then(|(f, rest)| rest.trim_end().strip_suffix(')').map(|a| (f.trim(), a)))
        .ok_or_else(|| unsupported(expr))?;
    let args = args
        .split(',')
        .map(|a| unquote(a.trim()).ok_or_else(|| unsupported(expr)))
        .collect::<Result<Vec<_>, _>>()?;
    match (func, args.as_slice()) {
        ("ref", [model]) => Ok(format!("models.{model}")),
        ("source", [source, table]) => Ok(format!("raw_{source}.{table}")),
        _ => Err(unsupported(expr)),
    }
}

fn unsupported(expr: &str) -> String {
    format!(
        "unsupported template `{{{{ {expr} }}}}`: only ref('model'), source('source', 'table') and this are supported; plain table names work too"
    )
}

/// `'x'` or `"x"` → `x`, only when x is a plain identifier (so the result is a valid,
/// unquoted SQL name).
fn unquote(arg: &str) -> Option<&str> {
    let inner = arg
        .strip_prefix('\'')
        .and_then(|a| a.strip_suffix('\''))
        .or_else(|| arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')))?;
    let ok = !inner.is_empty()
        && inner
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ok.then_some(inner)
}

/// `replacement` followed by spaces, keeping the template's newlines, so the text
/// after the template stays where it was.
fn pad(replacement: &str, template: &str) -> String {
    let mut out = replacement.to_string();
    for c in template.chars().skip(replacement.chars().count()) {
        out.push(if c == '\n' { '\n' } else { ' ' });
    }
    // A template spanning lines that is shorter than its replacement still keeps
    // every newline, so later lines keep their numbers.
    let lost = template
        .chars()
        .take(replacement.chars().count())
        .filter(|c| *c == '\n')
        .count();
    out.extend(std::iter::repeat_n('\n', lost));
    out
}

fn error(sql: &str, offset: usize, message: &str) -> SugarError {
    let (line, column) = line_col(sql, offset);
    SugarError {
        line,
        column,
        message: message.to_string(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_and_source_become_plain_names_in_place() {
        let sql =
            "select *\nfrom {{ ref('orders') }} o join {{source(\"shopify\", 'customers')}} c on x";
        let out = rewrite(sql, None).unwrap();
        assert_eq!(out.lines().count(), 2);
        assert!(out.contains("from models.orders "), "{out}");
        assert!(out.contains("raw_shopify.customers"), "{out}");
        // Text after each template keeps its column.
        assert_eq!(out.find(" o join"), sql.find(" o join"));
        assert_eq!(out.len(), sql.len());
        assert_eq!(out.rfind("on x"), sql.rfind("on x"));
    }

    #[test]
    fn compact_form_has_no_padding() {
        assert_eq!(
            rewrite_compact("from {{ ref('a') }} x", None).unwrap(),
            "from models.a x"
        );
    }

    #[test]
    fn this_needs_a_model() {
        assert_eq!(
            rewrite("select * from {{ this }} x", Some("m")).unwrap(),
            "select * from models.m   x"
        );
        assert!(rewrite("{{ this }}", None).is_err());
        // Longer than its template: the rest of the line shifts, lines do not.
        assert_eq!(
            rewrite("from {{this}} t\nx", Some("long_name")).unwrap(),
            "from models.long_name t\nx"
        );
    }

    #[test]
    fn unknown_templates_are_located() {
        let err = rewrite("select 1\n  from {{ var('x') }}", None).unwrap_err();
        assert_eq!((err.line, err.column), (2, 8));
        assert!(err.message.contains("var('x')"), "{}", err.message);
        let err = rewrite("select {{ ref('a')", None).unwrap_err();
        assert_eq!((err.line, err.column), (1, 8));
        assert!(rewrite("{{ ref('Bad Name') }}", None).is_err());
    }

    #[test]
    fn multi_line_templates_keep_line_numbers() {
        let out = rewrite("{{\nref('a')\n}} x", None).unwrap();
        assert_eq!(out.matches('\n').count(), 2, "{out:?}");
        assert!(out.starts_with("models.a"));
    }
}
