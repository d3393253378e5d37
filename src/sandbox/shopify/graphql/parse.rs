//! A small GraphQL parser: operations (query/mutation, optional name and variable
//! definitions), fields with aliases and arguments, nested selections and inline
//! fragments. Named fragments, directives and subscriptions are refused with an error.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum GValue {
    Var(String),
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
    Enum(String),
    List(Vec<GValue>),
    Object(BTreeMap<String, GValue>),
}

impl GValue {
    /// Resolve variables and convert to JSON.
    pub fn to_json(&self, vars: &Value) -> Value {
        match self {
            GValue::Var(v) => vars.get(v).cloned().unwrap_or(Value::Null),
            GValue::Int(i) => (*i).into(),
            GValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            GValue::Str(s) | GValue::Enum(s) => Value::String(s.clone()),
            GValue::Bool(b) => (*b).into(),
            GValue::Null => Value::Null,
            GValue::List(l) => Value::Array(l.iter().map(|v| v.to_json(vars)).collect()),
            GValue::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.to_json(vars)))
                    .collect(),
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub alias: Option<String>,
    pub name: String,
    pub args: Vec<(String, GValue)>,
    pub selections: Vec<Selection>,
}

impl Field {
    /// The response key.
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
    pub fn arg(&self, name: &str) -> Option<&GValue> {
        self.args.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    Field(Field),
    Inline {
        on: Option<String>,
        selections: Vec<Selection>,
    },
}

/// The fields of a selection set that apply to `type_name` (inline fragments on
/// other types are skipped).
pub fn fields_for<'a>(sels: &'a [Selection], type_name: &str) -> Vec<&'a Field> {
    let mut out = Vec::new();
    for s in sels {
        match s {
            Selection::Field(f) => out.push(f),
            Selection::Inline { on, selections }
                if on.as_deref().is_none_or(|t| t == type_name) =>
            {
                out.extend(fields_for(selections, type_name));
            }
            Selection::Inline { .. } => {}
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Query,
    Mutation,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub kind: OpKind,
    pub name: Option<String>,
    pub selections: Vec<Selection>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Punct(char),
    Spread,
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '{' | '}' | '(' | ')' | ':' | '!' | '$' | '[' | ']' | '=' | '@' | '|' | '&' => {
                out.push(Tok::Punct(c));
                i += 1;
            }
            '.' => {
                if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
                    out.push(Tok::Spread);
                    i += 3;
                } else {
                    return Err(format!("Parse error on \".\" at offset {i}"));
                }
            }
            '"' => {
                if chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'"') {
                    let start = i + 3;
                    let mut j = start;
                    while j + 2 < chars.len()
                        && !(chars[j] == '"' && chars[j + 1] == '"' && chars[j + 2] == '"')
                    {
                        j += 1;
                    }
                    if j + 2 >= chars.len() {
                        return Err("Unterminated block string".into());
                    }
                    out.push(Tok::Str(
                        chars[start..j]
                            .iter()
                            .collect::<String>()
                            .trim()
                            .to_string(),
                    ));
                    i = j + 3;
                } else {
                    let mut s = String::new();
                    i += 1;
                    loop {
                        let Some(&ch) = chars.get(i) else {
                            return Err("Unterminated string".into());
                        };
                        i += 1;
                        match ch {
                            '"' => break,
                            '\\' => {
                                let Some(&e) = chars.get(i) else {
                                    return Err("Unterminated string".into());
                                };
                                i += 1;
                                match e {
                                    'n' => s.push('\n'),
                                    't' => s.push('\t'),
                                    'r' => s.push('\r'),
                                    'b' => s.push('\u{8}'),
                                    'f' => s.push('\u{c}'),
                                    'u' => {
                                        let hex: String = chars
                                            .get(i..i + 4)
                                            .map(|h| h.iter().collect())
                                            .unwrap_or_default();
                                        let cp = u32::from_str_radix(&hex, 16)
                                            .map_err(|_| "Bad unicode escape".to_string())?;
                                        s.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                                        i += 4;
                                    }
                                    other => s.push(other),
                                }
                            }
                            other => s.push(other),
                        }
                    }
                    out.push(Tok::Str(s));
                }
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || matches!(chars[i], '.' | 'e' | 'E' | '+' | '-'))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                if let Ok(n) = text.parse::<i64>() {
                    out.push(Tok::Int(n));
                } else {
                    out.push(Tok::Float(
                        text.parse().map_err(|_| format!("Bad number {text}"))?,
                    ));
                }
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                out.push(Tok::Name(chars[start..i].iter().collect()));
            }
            other => return Err(format!("Parse error on \"{other}\"")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

/// Nesting beyond this is refused, so a hostile query cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn is(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }
    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Tok::Punct(p)) if p == c => Ok(()),
            other => Err(format!(
                "Parse error: expected \"{c}\", found {}",
                describe(other.as_ref())
            )),
        }
    }
    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Name(n)) => Ok(n),
            other => Err(format!(
                "Parse error: expected a name, found {}",
                describe(other.as_ref())
            )),
        }
    }

    fn document(&mut self) -> Result<Vec<Operation>, String> {
        let mut ops = Vec::new();
        while self.peek().is_some() {
            ops.push(self.operation()?);
        }
        if ops.is_empty() {
            return Err("Parse error: empty document".into());
        }
        Ok(ops)
    }

    fn operation(&mut self) -> Result<Operation, String> {
        if self.is('{') {
            return Ok(Operation {
                kind: OpKind::Query,
                name: None,
                selections: self.selection_set()?,
            });
        }
        let kind = match self.name()?.as_str() {
            "query" => OpKind::Query,
            "mutation" => OpKind::Mutation,
            "fragment" => return Err("Named fragments are not supported by the sandbox".into()),
            other => return Err(format!("Unsupported operation type \"{other}\"")),
        };
        let name = match self.peek() {
            Some(Tok::Name(_)) => Some(self.name()?),
            _ => None,
        };
        if self.is('(') {
            self.skip_balanced('(', ')')?;
        }
        if self.is('@') {
            return Err("Directives are not supported by the sandbox".into());
        }
        Ok(Operation {
            kind,
            name,
            selections: self.selection_set()?,
        })
    }

    /// Variable definitions: their types do not matter to the sandbox.
    fn skip_balanced(&mut self, open: char, close: char) -> Result<(), String> {
        let mut depth = 0;
        loop {
            match self.next() {
                Some(Tok::Punct(c)) if c == open => depth += 1,
                Some(Tok::Punct(c)) if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Some(_) => {}
                None => return Err(format!("Parse error: missing \"{close}\"")),
            }
        }
    }

    fn selection_set(&mut self) -> Result<Vec<Selection>, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("Query nesting deeper than {MAX_DEPTH} levels"));
        }
        let r = self.selection_set_inner();
        self.depth -= 1;
        r
    }

    fn selection_set_inner(&mut self) -> Result<Vec<Selection>, String> {
        self.expect('{')?;
        let mut sels = Vec::new();
        while !self.is('}') {
            if self.peek().is_none() {
                return Err("Parse error: missing \"}\"".into());
            }
            if self.peek() == Some(&Tok::Spread) {
                self.next();
                let on = match self.peek() {
                    Some(Tok::Name(n)) if n == "on" => {
                        self.next();
                        Some(self.name()?)
                    }
                    Some(Tok::Name(n)) => {
                        return Err(format!(
                            "Fragment spread \"{n}\" is not supported by the sandbox"
                        ));
                    }
                    _ => None,
                };
                sels.push(Selection::Inline {
                    on,
                    selections: self.selection_set()?,
                });
                continue;
            }
            sels.push(Selection::Field(self.field()?));
        }
        self.expect('}')?;
        Ok(sels)
    }

    fn field(&mut self) -> Result<Field, String> {
        let first = self.name()?;
        let (alias, name) = if self.is(':') {
            self.next();
            (Some(first), self.name()?)
        } else {
            (None, first)
        };
        let mut args = Vec::new();
        if self.is('(') {
            self.next();
            while !self.is(')') {
                let k = self.name()?;
                self.expect(':')?;
                args.push((k, self.value()?));
            }
            self.expect(')')?;
        }
        if self.is('@') {
            return Err("Directives are not supported by the sandbox".into());
        }
        let selections = if self.is('{') {
            self.selection_set()?
        } else {
            Vec::new()
        };
        Ok(Field {
            alias,
            name,
            args,
            selections,
        })
    }

    fn value(&mut self) -> Result<GValue, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("Value nesting deeper than {MAX_DEPTH} levels"));
        }
        let r = self.value_inner();
        self.depth -= 1;
        r
    }

    fn value_inner(&mut self) -> Result<GValue, String> {
        match self.next() {
            Some(Tok::Punct('$')) => Ok(GValue::Var(self.name()?)),
            Some(Tok::Int(i)) => Ok(GValue::Int(i)),
            Some(Tok::Float(f)) => Ok(GValue::Float(f)),
            Some(Tok::Str(s)) => Ok(GValue::Str(s)),
            Some(Tok::Name(n)) => Ok(match n.as_str() {
                "true" => GValue::Bool(true),
                "false" => GValue::Bool(false),
                "null" => GValue::Null,
                _ => GValue::Enum(n),
            }),
            Some(Tok::Punct('[')) => {
                let mut l = Vec::new();
                while !self.is(']') {
                    if self.peek().is_none() {
                        return Err("Parse error: missing \"]\"".into());
                    }
                    l.push(self.value()?);
                }
                self.next();
                Ok(GValue::List(l))
            }
            Some(Tok::Punct('{')) => {
                let mut m = BTreeMap::new();
                while !self.is('}') {
                    let k = self.name()?;
                    self.expect(':')?;
                    m.insert(k, self.value()?);
                }
                self.next();
                Ok(GValue::Object(m))
            }
            other => Err(format!(
                "Parse error: unexpected {}",
                describe(other.as_ref())
            )),
        }
    }
}

fn describe(t: Option<&Tok>) -> String {
    match t {
        None => "end of document".into(),
        Some(Tok::Punct(c)) => format!("\"{c}\""),
        Some(Tok::Spread) => "\"...\"".into(),
        Some(Tok::Name(n)) => format!("\"{n}\""),
        Some(Tok::Int(i)) => i.to_string(),
        Some(Tok::Float(f)) => f.to_string(),
        Some(Tok::Str(s)) => format!("string \"{s}\""),
    }
}

/// Parse a document; pick the operation named `op_name`, else the only one.
pub fn parse(src: &str, op_name: Option<&str>) -> Result<Operation, String> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
        depth: 0,
    };
    let ops = p.document()?;
    match op_name {
        Some(n) => ops
            .into_iter()
            .find(|o| o.name.as_deref() == Some(n))
            .ok_or_else(|| format!("No operation named \"{n}\"")),
        None if ops.len() == 1 => ops
            .into_iter()
            .next()
            .ok_or_else(|| "empty document".into()),
        None => {
            Err("An operation name is required when the document has several operations".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bulk_mutation_with_block_string() {
        let q = r#"mutation Run($x: String!) { bulkOperationRunQuery(query: """
          { orders(query: "updated_at:>='2024-01-01'") { edges { node { id lineItems { edges { node { id } } } } } } }
        """) { bulkOperation { id status } userErrors { field message } } }"#;
        let op = parse(q, None).expect("parses");
        assert_eq!(op.kind, OpKind::Mutation);
        let Selection::Field(f) = &op.selections[0] else {
            panic!("field")
        };
        assert_eq!(f.name, "bulkOperationRunQuery");
        let Some(GValue::Str(inner)) = f.arg("query") else {
            panic!("query arg")
        };
        let inner = parse(inner, None).expect("inner parses");
        let Selection::Field(orders) = &inner.selections[0] else {
            panic!("orders")
        };
        assert_eq!(orders.name, "orders");
    }

    #[test]
    fn inline_fragments_and_aliases() {
        let op = parse(r#"query { op: node(id: "gid://shopify/BulkOperation/1") { ... on BulkOperation { id status } } }"#, None).expect("parses");
        let Selection::Field(f) = &op.selections[0] else {
            panic!("field")
        };
        assert_eq!(f.key(), "op");
        assert_eq!(fields_for(&f.selections, "BulkOperation").len(), 2);
        assert!(parse("query { a { ...Frag } }", None).is_err());
        let deep = format!("{}{}", "{a".repeat(10_000), "}".repeat(10_000));
        assert!(
            parse(&deep, None).is_err(),
            "deep nesting refused, not a stack overflow"
        );
    }
}
