//! Table names: `<area>.<name>`, where the area says who writes the table —
//! `raw_<source>` (extractors), `models` (the SQL models), `syncs` (sync snapshots,
//! plans, results), `meta` (runs, cursors, checkpoints), `audit` (reconciliation).

use std::fmt;
use std::str::FromStr;

/// A warehouse table name that is not `<area>.<name>` with a known area.
#[derive(Debug, thiserror::Error)]
#[error("invalid table name {name:?}: {reason}")]
pub struct NameError {
    name: String,
    reason: String,
}

/// A validated `<area>.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    area: String,
    name: String,
}

const FIXED_AREAS: [&str; 4] = ["models", "syncs", "meta", "audit"];

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl TableName {
    /// Build from parts, validating both.
    pub fn new(area: &str, name: &str) -> Result<TableName, NameError> {
        let err = |reason: &str| NameError {
            name: format!("{area}.{name}"),
            reason: reason.into(),
        };
        if !is_identifier(area) || !is_identifier(name) {
            return Err(err("use lower-case letters, digits and underscores"));
        }
        let known =
            FIXED_AREAS.contains(&area) || area.strip_prefix("raw_").is_some_and(|s| !s.is_empty());
        if !known {
            return Err(err(
                "the area must be raw_<source>, models, syncs, meta or audit",
            ));
        }
        Ok(TableName {
            area: area.into(),
            name: name.into(),
        })
    }

    /// Parse `<area>.<name>`.
    pub fn parse(text: &str) -> Result<TableName, NameError> {
        match text.split_once('.') {
            Some((area, name)) => TableName::new(area, name),
            None => Err(NameError {
                name: text.into(),
                reason: "expected <area>.<name>".into(),
            }),
        }
    }

    /// The area (SQL schema).
    pub fn area(&self) -> &str {
        &self.area
    }

    /// The table's name inside its area.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.area, self.name)
    }
}

impl FromStr for TableName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TableName::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_known_areas_and_rejects_others() {
        assert_eq!(
            TableName::parse("raw_shopify.orders").unwrap().area(),
            "raw_shopify"
        );
        assert!(TableName::parse("models.golden_customers").is_ok());
        assert!(TableName::parse("meta.cursors").is_ok());
        for bad in [
            "orders",
            "raw_.x",
            "Models.x",
            "models.X",
            "tmp.x",
            "models.a-b",
        ] {
            assert!(TableName::parse(bad).is_err(), "{bad}");
        }
    }
}
