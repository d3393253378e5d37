//! Klaviyo's `filter` query syntax: `op(field,value)` conditions, joined by
//! commas or `and(...)`; values are quoted strings, unquoted datetimes, numbers,
//! booleans or `[...]` lists. Each endpoint allows a fixed set of field/operator
//! pairs and refuses the rest with a 400, as Klaviyo does.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::errors::ApiError;

/// A filter value.
#[derive(Debug, Clone, PartialEq)]
pub enum FValue {
    /// Quoted string.
    Str(String),
    /// Unquoted datetime.
    Time(DateTime<Utc>),
    /// Number.
    Num(f64),
    /// Boolean.
    Bool(bool),
    /// `[...]`.
    List(Vec<FValue>),
}

impl FValue {
    /// The string form, for equality checks.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// One `op(field, value)` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    /// Operator, e.g. `equals`, `greater-than`, `any`.
    pub op: String,
    /// Field name.
    pub field: String,
    /// Operand.
    pub value: FValue,
}

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::invalid_param(detail, "filter")
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    src: &'a str,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), ApiError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(bad(format!(
                "Invalid filter provided. Expected '{}' at position {} in '{}'.",
                c as char, self.pos, self.src
            )))
        }
    }

    fn ident(&mut self) -> Result<String, ApiError> {
        self.ws();
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || b"-_.$".contains(&self.s[self.pos]))
        {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(bad(format!(
                "Invalid filter provided. Expected a name at position {start} in '{}'.",
                self.src
            )));
        }
        Ok(self.src[start..self.pos].to_string())
    }

    fn value(&mut self) -> Result<FValue, ApiError> {
        self.ws();
        match self.s.get(self.pos) {
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value()?);
                        if self.eat(b']') {
                            break;
                        }
                        self.expect(b',')?;
                    }
                }
                Ok(FValue::List(items))
            }
            Some(q @ (b'"' | b'\'')) => {
                let q = *q;
                self.pos += 1;
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos] != q {
                    self.pos += 1;
                }
                if self.pos >= self.s.len() {
                    return Err(bad(format!(
                        "Invalid filter provided. Unterminated string in '{}'.",
                        self.src
                    )));
                }
                let v = self.src[start..self.pos].to_string();
                self.pos += 1;
                Ok(FValue::Str(v))
            }
            _ => {
                let start = self.pos;
                while self.pos < self.s.len() && !b",)]".contains(&self.s[self.pos]) {
                    self.pos += 1;
                }
                let raw = self.src[start..self.pos].trim();
                parse_bare(raw).ok_or_else(|| {
                    bad(format!(
                        "Invalid filter provided. '{raw}' is not a valid value."
                    ))
                })
            }
        }
    }

    fn expr(&mut self, out: &mut Vec<Cond>) -> Result<(), ApiError> {
        let op = self.ident()?;
        self.expect(b'(')?;
        if op == "and" {
            loop {
                self.expr(out)?;
                if self.eat(b')') {
                    return Ok(());
                }
                self.expect(b',')?;
            }
        }
        if op == "or" || op == "not" {
            return Err(bad(format!(
                "Invalid filter provided. The '{op}' operator is not supported for this endpoint."
            )));
        }
        let field = self.ident()?;
        self.expect(b',')?;
        let value = self.value()?;
        self.expect(b')')?;
        out.push(Cond { op, field, value });
        Ok(())
    }
}

fn parse_bare(raw: &str) -> Option<FValue> {
    match raw {
        "true" => return Some(FValue::Bool(true)),
        "false" => return Some(FValue::Bool(false)),
        _ => {}
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(FValue::Time(t.with_timezone(&Utc)));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S") {
        return Some(FValue::Time(t.and_utc()));
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| FValue::Time(t.and_utc()));
    }
    raw.parse::<f64>().ok().map(FValue::Num)
}

/// Parses a filter and checks every condition against `allowed`
/// (`(field, [operators])`).
pub fn parse(src: &str, allowed: &[(&str, &[&str])]) -> Result<Vec<Cond>, ApiError> {
    let mut p = Parser {
        s: src.as_bytes(),
        pos: 0,
        src,
    };
    let mut out = Vec::new();
    loop {
        p.expr(&mut out)?;
        p.ws();
        if p.pos >= p.s.len() {
            break;
        }
        p.expect(b',')?;
    }
    for c in &out {
        let Some((_, ops)) = allowed.iter().find(|(f, _)| *f == c.field) else {
            return Err(bad(format!(
                "'{}' is not a valid field for filtering.",
                c.field
            )));
        };
        if !ops.contains(&c.op.as_str()) {
            return Err(bad(format!(
                "The operator '{}' is not allowed for the field '{}'. Allowed operators: {}.",
                c.op,
                c.field,
                ops.join(", ")
            )));
        }
        let ok = match c.op.as_str() {
            "any" => matches!(c.value, FValue::List(_)),
            "greater-than" | "less-than" | "greater-or-equal" | "less-or-equal" => {
                matches!(c.value, FValue::Time(_) | FValue::Num(_))
            }
            _ => !matches!(c.value, FValue::List(_)),
        };
        if !ok {
            return Err(bad(format!(
                "Invalid value for operator '{}' on field '{}'.",
                c.op, c.field
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[(&str, &[&str])] = &[
        ("email", &["equals", "any"]),
        ("updated", &["greater-than", "less-than"]),
    ];

    #[test]
    fn parses_conditions_and_lists() {
        let c = parse(
            r#"and(equals(email,"a@b.co"),greater-than(updated,2024-01-01T00:00:00Z))"#,
            ALLOWED,
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].value, FValue::Str("a@b.co".into()));
        assert!(matches!(c[1].value, FValue::Time(_)));
        let c = parse(r#"any(email,["a@b.co",'c@d.co'])"#, ALLOWED).unwrap();
        assert!(matches!(&c[0].value, FValue::List(v) if v.len() == 2));
    }

    #[test]
    fn refuses_disallowed_pairs_and_garbage() {
        assert!(parse("greater-or-equal(updated,2024-01-01T00:00:00Z)", ALLOWED).is_err());
        assert!(parse("equals(first_name,\"x\")", ALLOWED).is_err());
        assert!(parse("equals(email,\"x\"", ALLOWED).is_err());
    }
}
