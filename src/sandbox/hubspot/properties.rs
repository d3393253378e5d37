//! The contact property schema: HubSpot's default contact properties, the custom
//! ones a reverse-ETL pushes, and property creation. Validates and normalises
//! written values the way HubSpot does (every value is a string on the wire;
//! numbers, dates, enumerations and emails are checked).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use super::errors::{ApiError, ErrorDetail};

/// Property value types HubSpot supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    /// Free text.
    String,
    /// Decimal number, stored as its string.
    Number,
    /// Calendar date (midnight UTC), stored as `YYYY-MM-DD`.
    Date,
    /// Instant, stored as ISO-8601 with milliseconds.
    DateTime,
    /// One of a fixed list of options.
    Enumeration,
    /// `true` / `false`.
    Bool,
}

impl PropType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" | "phone_number" => Self::String,
            "number" => Self::Number,
            "date" => Self::Date,
            "datetime" => Self::DateTime,
            "enumeration" => Self::Enumeration,
            "bool" => Self::Bool,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Date => "date",
            Self::DateTime => "datetime",
            Self::Enumeration => "enumeration",
            Self::Bool => "bool",
        }
    }
}

/// One property definition.
#[derive(Debug, Clone)]
pub struct PropertyDef {
    /// Internal name.
    pub name: String,
    /// Display label.
    pub label: String,
    /// Value type.
    pub prop_type: PropType,
    /// UI field type (`text`, `number`, `date`, `select`, ...).
    pub field_type: String,
    /// Property group.
    pub group_name: String,
    /// Unique across contacts: usable as `idProperty`.
    pub unique: bool,
    /// Set by HubSpot only; writes are rejected.
    pub read_only: bool,
    /// Allowed values of an enumeration.
    pub options: Vec<String>,
    /// Defined by HubSpot rather than by a user.
    pub hubspot_defined: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl PropertyDef {
    fn builtin(name: &str, label: &str, t: PropType, field: &str) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            prop_type: t,
            field_type: field.into(),
            group_name: "contactinformation".into(),
            unique: false,
            read_only: false,
            options: Vec::new(),
            hubspot_defined: true,
            created_at: epoch(),
        }
    }

    fn custom(name: &str, label: &str, t: PropType, field: &str) -> Self {
        Self {
            hubspot_defined: false,
            group_name: "lockstep".into(),
            ..Self::builtin(name, label, t, field)
        }
    }

    /// The property as `GET /crm/v3/properties/contacts` lists it.
    pub fn to_json(&self) -> Value {
        let ts = fmt_datetime(self.created_at);
        json!({
            "name": self.name,
            "label": self.label,
            "type": self.prop_type.name(),
            "fieldType": self.field_type,
            "description": "",
            "groupName": self.group_name,
            "options": self.options.iter().enumerate().map(|(i, o)| json!({
                "label": o, "value": o, "displayOrder": i, "hidden": false
            })).collect::<Vec<_>>(),
            "displayOrder": -1,
            "calculated": false,
            "externalOptions": false,
            "hasUniqueValue": self.unique,
            "hidden": false,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": !self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": !self.read_only,
            "createdAt": ts,
            "updatedAt": ts,
            "archived": false,
        })
    }
}

fn epoch() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_577_836_800_000)
        .single()
        .unwrap_or_default()
}

/// Formats an instant the way HubSpot writes datetimes.
pub fn fmt_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses a datetime written as ms since the epoch or ISO-8601.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Utc.timestamp_millis_opt(ms).single();
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

/// Why one property value was refused (one entry of HubSpot's
/// "Property values were not valid" list).
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyIssue {
    /// Property name.
    pub name: String,
    /// HubSpot error code, e.g. `PROPERTY_DOESNT_EXIST`, `INVALID_EMAIL`.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

/// Turns property issues into HubSpot's `VALIDATION_ERROR`, whose message embeds a
/// JSON list of the failing values.
pub fn issues_to_error(issues: &[PropertyIssue]) -> ApiError {
    let list: Vec<Value> = issues
        .iter()
        .map(|i| {
            json!({
                "isValid": false,
                "message": i.message,
                "error": i.code,
                "name": i.name,
                "localizedErrorMessage": i.message,
            })
        })
        .collect();
    let mut err = ApiError::validation(format!(
        "Property values were not valid: {}",
        Value::Array(list)
    ));
    err.errors = issues
        .iter()
        .map(|i| ErrorDetail {
            message: i.message.clone(),
            code: Some(i.code.to_string()),
            context: BTreeMap::from([("propertyName".to_string(), vec![i.name.clone()])]),
        })
        .collect();
    err.context.insert(
        "propertyName".into(),
        issues.iter().map(|i| i.name.clone()).collect(),
    );
    err
}

/// The property schema of the contacts object.
#[derive(Debug, Clone)]
pub struct Schema {
    props: BTreeMap<String, PropertyDef>,
}

/// Allowed lifecycle stages (HubSpot's default options).
const LIFECYCLE: &[&str] = &[
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
];

impl Default for Schema {
    fn default() -> Self {
        let mut defs = vec![
            PropertyDef {
                unique: true,
                ..PropertyDef::builtin("email", "Email", PropType::String, "text")
            },
            PropertyDef::builtin("firstname", "First Name", PropType::String, "text"),
            PropertyDef::builtin("lastname", "Last Name", PropType::String, "text"),
            PropertyDef::builtin("phone", "Phone Number", PropType::String, "phonenumber"),
            PropertyDef::builtin("company", "Company Name", PropType::String, "text"),
            PropertyDef {
                options: LIFECYCLE.iter().map(|s| s.to_string()).collect(),
                ..PropertyDef::builtin(
                    "lifecyclestage",
                    "Lifecycle Stage",
                    PropType::Enumeration,
                    "radio",
                )
            },
            PropertyDef {
                read_only: true,
                ..PropertyDef::builtin("createdate", "Create Date", PropType::DateTime, "date")
            },
            PropertyDef {
                read_only: true,
                ..PropertyDef::builtin(
                    "lastmodifieddate",
                    "Last Modified Date",
                    PropType::DateTime,
                    "date",
                )
            },
            PropertyDef {
                read_only: true,
                unique: true,
                ..PropertyDef::builtin("hs_object_id", "Record ID", PropType::Number, "number")
            },
            PropertyDef::custom("total_spent", "Total spent", PropType::Number, "number"),
            PropertyDef::custom("last_order_date", "Last order date", PropType::Date, "date"),
            PropertyDef::custom("orders_count", "Orders count", PropType::Number, "number"),
            PropertyDef::custom("primary_tag", "Primary tag", PropType::String, "text"),
            PropertyDef {
                unique: true,
                ..PropertyDef::custom(
                    "lockstep_golden_id",
                    "lockstep golden id",
                    PropType::String,
                    "text",
                )
            },
        ];
        Self {
            props: defs.drain(..).map(|d| (d.name.clone(), d)).collect(),
        }
    }
}

impl Schema {
    /// A property by name.
    pub fn get(&self, name: &str) -> Option<&PropertyDef> {
        self.props.get(name)
    }

    /// All properties, by name.
    pub fn all(&self) -> impl Iterator<Item = &PropertyDef> {
        self.props.values()
    }

    /// Registers a seed's unknown property as a plain string property, so seeded
    /// data is never silently dropped.
    pub fn ensure_string(&mut self, name: &str) {
        if !self.props.contains_key(name) {
            let def = PropertyDef::custom(name, name, PropType::String, "text");
            self.props.insert(name.to_string(), def);
        }
    }

    /// `POST /crm/v3/properties/contacts`: validates and adds a definition.
    pub fn create(&mut self, body: &Value) -> Result<&PropertyDef, ApiError> {
        let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        let missing = |k: &str| ApiError::validation(format!("Property field '{k}' is required"));
        let name = field("name").ok_or_else(|| missing("name"))?;
        let label = field("label").ok_or_else(|| missing("label"))?;
        let type_name = field("type").ok_or_else(|| missing("type"))?;
        let field_type = field("fieldType").ok_or_else(|| missing("fieldType"))?;
        let group_name = field("groupName").ok_or_else(|| missing("groupName"))?;
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return Err(ApiError::validation(format!(
                "Property name '{name}' is invalid: use lowercase letters, digits and underscores, starting with a letter"
            )));
        }
        let prop_type = PropType::parse(&type_name).ok_or_else(|| {
            ApiError::validation(format!("Property type '{type_name}' is not a valid type"))
        })?;
        if self.props.contains_key(&name) {
            return Err(ApiError::conflict(format!(
                "Property named '{name}' already exists."
            )));
        }
        let options = body
            .get("options")
            .and_then(Value::as_array)
            .map(|opts| {
                opts.iter()
                    .filter_map(|o| o.get("value").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let def = PropertyDef {
            name: name.clone(),
            label,
            prop_type,
            field_type,
            group_name,
            unique: body.get("hasUniqueValue").and_then(Value::as_bool) == Some(true),
            read_only: false,
            options,
            hubspot_defined: false,
            created_at: Utc::now(),
        };
        Ok(self.props.entry(name).or_insert(def))
    }

    /// Checks and normalises a property map written by a client. Empty strings
    /// (and JSON null) clear a value, so they come back as `""`.
    pub fn validate_write(
        &self,
        props: &serde_json::Map<String, Value>,
    ) -> Result<BTreeMap<String, String>, Vec<PropertyIssue>> {
        let mut out = BTreeMap::new();
        let mut issues = Vec::new();
        for (name, raw) in props {
            match self.validate_one(name, raw) {
                Ok(v) => {
                    out.insert(name.clone(), v);
                }
                Err(issue) => issues.push(issue),
            }
        }
        if issues.is_empty() {
            Ok(out)
        } else {
            Err(issues)
        }
    }

    fn validate_one(&self, name: &str, raw: &Value) -> Result<String, PropertyIssue> {
        let issue = |code: &'static str, message: String| PropertyIssue {
            name: name.to_string(),
            code,
            message,
        };
        let Some(def) = self.props.get(name) else {
            return Err(issue(
                "PROPERTY_DOESNT_EXIST",
                format!("Property \"{name}\" does not exist"),
            ));
        };
        if def.read_only {
            return Err(issue(
                "READ_ONLY_VALUE",
                format!("{name} is a read only property; its value cannot be set."),
            ));
        }
        let value = match raw {
            Value::Null => String::new(),
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(issue(
                    "INVALID_PROPERTY_VALUE",
                    format!("{raw} was not a valid value for property {name}"),
                ));
            }
        };
        if value.is_empty() {
            return Ok(value);
        }
        if name == "email" {
            return normalise_email(&value).ok_or_else(|| {
                issue("INVALID_EMAIL", format!("Email address {value} is invalid"))
            });
        }
        match def.prop_type {
            PropType::String => Ok(value),
            PropType::Number => match value.parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(value),
                _ => Err(issue(
                    "INVALID_DOUBLE",
                    format!("{value} was not a valid number."),
                )),
            },
            PropType::Bool => match value.to_ascii_lowercase().as_str() {
                "true" | "false" => Ok(value.to_ascii_lowercase()),
                _ => Err(issue(
                    "INVALID_BOOLEAN",
                    format!("{value} was not a valid boolean."),
                )),
            },
            PropType::Enumeration => {
                if def.options.contains(&value) {
                    Ok(value)
                } else {
                    Err(issue(
                        "INVALID_OPTION",
                        format!(
                            "{value} was not one of the allowed options: [{}]",
                            def.options.join(", ")
                        ),
                    ))
                }
            }
            PropType::DateTime => parse_datetime(&value).map(fmt_datetime).ok_or_else(|| {
                issue(
                    "INVALID_DATETIME",
                    format!("{value} is not a valid datetime"),
                )
            }),
            PropType::Date => normalise_date(&value).map_err(|m| issue("INVALID_DATE", m)),
        }
    }
}

/// Dates must be `YYYY-MM-DD` or a ms timestamp at exactly midnight UTC.
fn normalise_date(value: &str) -> Result<String, String> {
    if let Ok(ms) = value.parse::<i64>() {
        let t = Utc
            .timestamp_millis_opt(ms)
            .single()
            .ok_or_else(|| format!("{value} is not a valid date"))?;
        if ms.rem_euclid(86_400_000) != 0 {
            return Err(format!(
                "{value} is at {}, not midnight!",
                t.format("%H:%M:%S%.3f UTC")
            ));
        }
        return Ok(t.format("%Y-%m-%d").to_string());
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(|d| d.format("%Y-%m-%d").to_string())
        .map_err(|_| format!("{value} is not a valid date"))
}

/// HubSpot stores emails lower-cased and rejects obviously malformed ones.
pub fn normalise_email(value: &str) -> Option<String> {
    let v = value.trim().to_ascii_lowercase();
    let (local, domain) = v.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !v.chars().any(|c| c.is_whitespace() || c == ',')
        && !domain.contains('@');
    ok.then_some(v)
}
