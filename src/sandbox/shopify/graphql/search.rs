//! Shopify's search syntax in `query:` arguments, the subset that matters for
//! incremental extraction: `updated_at`, `created_at` and `id` with `:>=`, `:<=`,
//! `:>`, `:<` or `:` (equality), joined by `AND`. Values may be quoted. Terms on
//! other fields are ignored, as Shopify ignores unknown search fields.

use crate::sandbox::shopify::model::{Ts, parse_ts};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Ge,
    Le,
    Gt,
    Lt,
    Eq,
}

impl Op {
    fn holds(self, x: i64, v: i64) -> bool {
        match self {
            Op::Ge => x >= v,
            Op::Le => x <= v,
            Op::Gt => x > v,
            Op::Lt => x < v,
            Op::Eq => x == v,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Updated,
    Created,
    Id,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    terms: Vec<(Target, Op, i64)>,
}

impl Filter {
    pub fn matches(&self, id: u64, created: Ts, updated: Ts) -> bool {
        self.terms.iter().all(|&(t, op, v)| {
            let x = match t {
                Target::Updated => updated,
                Target::Created => created,
                Target::Id => id as i64,
            };
            op.holds(x, v)
        })
    }

    /// Whether a record updated at `updated` passes the `updated_at` terms (the
    /// others may still reject it): lets a scan skip most records without reading
    /// them.
    pub fn may_match_updated(&self, updated: Ts) -> bool {
        self.terms
            .iter()
            .all(|&(t, op, v)| t != Target::Updated || op.holds(updated, v))
    }
}

/// Split on whitespace outside quotes.
fn words(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in q.chars() {
        match (quote, c) {
            (Some(qc), c) if c == qc => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub fn parse(q: &str) -> Result<Filter, String> {
    let mut f = Filter::default();
    for w in words(q) {
        if w.eq_ignore_ascii_case("AND") {
            continue;
        }
        if w.eq_ignore_ascii_case("OR") || w.starts_with('-') || w.eq_ignore_ascii_case("NOT") {
            return Err(format!(
                "The sandbox supports only AND-joined range terms in query, not '{w}'"
            ));
        }
        let Some((field, rest)) = w.split_once(':') else {
            continue;
        };
        let target = match field {
            "updated_at" => Target::Updated,
            "created_at" => Target::Created,
            "id" => Target::Id,
            _ => continue,
        };
        let (op, val) = if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix('>') {
            (Op::Gt, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else {
            (Op::Eq, rest)
        };
        let val = val.trim_matches(|c| c == '\'' || c == '"');
        let v = match target {
            Target::Id => val.rsplit('/').next().and_then(|s| s.parse::<i64>().ok()),
            _ => parse_ts(val),
        }
        .ok_or_else(|| format!("Invalid value '{val}' for {field} in query"))?;
        f.terms.push((target, op, v));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_airbyte_style_ranges() {
        let f = parse(
            "updated_at:>='2024-01-01T00:00:00+00:00' AND updated_at:<='2024-02-01T00:00:00+00:00'",
        )
        .expect("parses");
        let jan15 = parse_ts("2024-01-15T00:00:00Z").unwrap_or_default();
        let mar = parse_ts("2024-03-01T00:00:00Z").unwrap_or_default();
        assert!(f.matches(1, 0, jan15));
        assert!(!f.matches(1, 0, mar));
        assert!(parse("updated_at:>=nonsense").is_err());
        assert!(parse("status:open").expect("ignored").matches(1, 0, 0));
    }

    #[test]
    fn the_updated_at_pre_check_ignores_other_terms_and_never_rejects_a_match() {
        let f = parse(
            "updated_at:>'2024-01-01T00:00:00Z' AND id:<100 AND created_at:<'2023-06-01T00:00:00Z'",
        )
        .expect("parses");
        let jan = parse_ts("2024-01-01T00:00:00Z").unwrap_or_default();
        assert!(!f.may_match_updated(jan), "the bound is exclusive");
        assert!(
            f.may_match_updated(jan + 1),
            "id and created_at are not its business"
        );
        assert!(!f.matches(500, 0, jan + 1));
        // Whatever matches passes the pre-check.
        for (id, created, updated) in [(1, 0, jan + 1), (99, jan - 86_400 * 300, jan + 86_400)] {
            assert!(f.matches(id, created, updated));
            assert!(f.may_match_updated(updated));
        }
        assert!(parse("id:7").expect("parses").may_match_updated(0));
    }
}
