//! lockstep.toml: loading, `${VAR}` expansion and validation. Every error names the
//! file, line, column and key, in one line, so the user can go straight to it.

mod duration;
mod env;
mod model;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub use duration::parse_duration;
pub use env::{EnvString, Secret, expand};
pub use model::*;

/// The project file's name inside a project directory.
pub const FILE_NAME: &str = "lockstep.toml";

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read the project file: {source} (run `lockstep init` to create one)")]
    Read {
        /// Path of the file.
        file: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file was read but something in it is wrong.
    #[error("{file}:{line}:{column}: {key}: {message}")]
    Invalid {
        /// Path of the file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Dotted key path of the offending entry.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// A loaded project: its directory and its validated configuration.
#[derive(Debug)]
pub struct Project {
    /// Directory holding lockstep.toml; relative paths in the file resolve against it.
    pub dir: PathBuf,
    /// The parsed file.
    pub config: Config,
}

impl Project {
    /// Load `<dir>/lockstep.toml`.
    pub fn load(dir: &Path) -> Result<Project, ConfigError> {
        // Relative paths in the file resolve against an absolute project directory,
        // whatever the working directory is later.
        let dir = &std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let file = dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Read {
            file: file.display().to_string(),
            source,
        })?;
        let config = parse(&text, &file.display().to_string(), dir)?;
        Ok(Project {
            dir: dir.to_path_buf(),
            config,
        })
    }

    /// Directory of the SQL models.
    pub fn models_dir(&self) -> PathBuf {
        self.dir.join(&self.config.project.models_dir)
    }

    /// How long replaced model versions stay readable (`warehouse.model_retention`,
    /// checked when the project loaded).
    pub fn model_retention(&self) -> std::time::Duration {
        let text = self
            .config
            .warehouse
            .model_retention
            .as_ref()
            .map_or(DEFAULT_MODEL_RETENTION, |r| r.get_ref().as_str());
        parse_duration(text).unwrap_or(std::time::Duration::from_secs(86_400))
    }
}

/// Parse and validate the text of a project file; `file` names it in errors and
/// `dir` resolves relative paths.
pub fn parse(text: &str, file: &str, dir: &Path) -> Result<Config, ConfigError> {
    let de = toml::Deserializer::parse(text)
        .map_err(|e| invalid(text, file, e.span(), String::new(), e.message().to_string()))?;
    let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().to_string();
        let key = key_of(&path, &message);
        invalid(text, file, inner.span(), key, message)
    })?;
    validate(&config, dir).map_err(|v| invalid(text, file, v.span, v.key, v.message))?;
    Ok(config)
}

/// Dotted key of an error: serde's path, plus the field an "unknown field" names.
fn key_of(path: &str, message: &str) -> String {
    let path = if path == "." { "" } else { path };
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    match (path.is_empty(), unknown) {
        (true, Some(field)) => field.to_string(),
        (false, Some(field)) if !path.ends_with(field) => format!("{path}.{field}"),
        _ => path.to_string(),
    }
}

fn invalid(
    text: &str,
    file: &str,
    span: Option<Range<usize>>,
    key: String,
    message: String,
) -> ConfigError {
    let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((1, 1));
    ConfigError::Invalid {
        file: file.to_string(),
        line,
        column,
        key: if key.is_empty() {
            "(top level)".into()
        } else {
            key
        },
        message: message.replace('\n', " ").trim().to_string(),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A semantic problem found after parsing.
struct Violation {
    span: Option<Range<usize>>,
    key: String,
    message: String,
}

fn violation(span: Range<usize>, key: impl Into<String>, message: impl Into<String>) -> Violation {
    // A zero-width span at 0 is a default value: no position to point at.
    let span = if span == (0..0) { None } else { Some(span) };
    Violation {
        span,
        key: key.into(),
        message: message.into(),
    }
}

fn validate(config: &Config, dir: &Path) -> Result<(), Violation> {
    let currency = &config.project.reporting_currency;
    if !(currency.get_ref().len() == 3
        && currency.get_ref().chars().all(|c| c.is_ascii_uppercase()))
    {
        return Err(violation(
            currency.span(),
            "project.reporting_currency",
            format!(
                "{:?} is not an ISO 4217 code like \"USD\"",
                currency.get_ref()
            ),
        ));
    }
    let url = &config.warehouse.url;
    if let Err(e) = crate::warehouse::Location::parse(&url.get_ref().0, dir) {
        return Err(violation(url.span(), "warehouse.url", e.to_string()));
    }
    for (section, tables) in [
        ("sources", &config.sources),
        ("destinations", &config.destinations),
    ] {
        for (name, endpoint) in tables {
            validate_endpoint(section, name, endpoint)?;
        }
    }
    if let Some(retention) = &config.warehouse.model_retention
        && let Err(e) = parse_duration(retention.get_ref())
    {
        return Err(violation(retention.span(), "warehouse.model_retention", e));
    }
    validate_syncs(config)?;
    for (name, schedule) in &config.schedules {
        if let Err(e) = crate::schedule::parse_cron(schedule.cron.get_ref()) {
            return Err(violation(
                schedule.cron.span(),
                format!("schedules.{name}.cron"),
                e.to_string(),
            ));
        }
    }
    Ok(())
}

fn validate_endpoint(
    section: &str,
    name: &str,
    endpoint: &EndpointConfig,
) -> Result<(), Violation> {
    let platform = endpoint.platform();
    let (required, optional) = platform.keys();
    let present = endpoint.present_keys();
    let at = endpoint.kind.span();
    if let Some(lookback) = &endpoint.lookback
        && let Err(e) = parse_duration(lookback)
    {
        return Err(violation(at, format!("{section}.{name}.lookback"), e));
    }
    for key in required {
        if !present.contains(key) {
            return Err(violation(
                at.clone(),
                format!("{section}.{name}.{key}"),
                format!("a {} {section} entry needs `{key}`", platform.as_str()),
            ));
        }
    }
    for key in present {
        if !required.contains(&key) && !optional.contains(&key) {
            return Err(violation(
                at.clone(),
                format!("{section}.{name}.{key}"),
                format!("`{key}` does not apply to kind = \"{}\"", platform.as_str()),
            ));
        }
    }
    Ok(())
}

fn validate_syncs(config: &Config) -> Result<(), Violation> {
    let systems: Vec<&str> = ["warehouse", "store"]
        .into_iter()
        .chain(config.sources.keys().map(String::as_str))
        .chain(config.destinations.keys().map(String::as_str))
        .collect();
    for (field, owner) in &config.ownership {
        if !systems.contains(&owner.get_ref().as_str()) {
            return Err(violation(
                owner.span(),
                format!("ownership.{field}"),
                format!(
                    "unknown owner {:?}; expected one of {}",
                    owner.get_ref(),
                    systems.join(", ")
                ),
            ));
        }
    }
    // destination.object.field → the sync that writes it: one writer per field.
    let mut writers: BTreeMap<String, &str> = BTreeMap::new();
    for (name, sync) in &config.syncs {
        let dest = sync.destination.get_ref();
        let Some(endpoint) = config.destinations.get(dest) else {
            return Err(violation(
                sync.destination.span(),
                format!("syncs.{name}.destination"),
                format!("no [destinations.{dest}] is defined"),
            ));
        };
        validate_sync_shape(name, sync, endpoint)?;
        for (field, column) in &sync.fields {
            let qualified = format!("{dest}.{}.{field}", sync.object);
            if let Some(owner) = config.ownership.get(&qualified)
                && owner.get_ref() == dest
            {
                return Err(violation(
                    column.span(),
                    format!("syncs.{name}.fields.{field}"),
                    format!(
                        "{qualified} is owned by {dest} (see [ownership]); a sync may not write it"
                    ),
                ));
            }
            if let Some(other) = writers.insert(qualified.clone(), name) {
                return Err(violation(
                    column.span(),
                    format!("syncs.{name}.fields.{field}"),
                    format!(
                        "{qualified} is already written by sync {other}; one field has one writer"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A sync's name becomes part of warehouse table names; its object must be one the
/// destination's platform can write, with a mode that object supports.
fn validate_sync_shape(
    name: &str,
    sync: &SyncConfig,
    endpoint: &EndpointConfig,
) -> Result<(), Violation> {
    let at = sync.destination.span();
    let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_name {
        return Err(violation(
            at,
            format!("syncs.{name}"),
            "a sync name uses lower-case letters, digits and underscores (it names warehouse tables)",
        ));
    }
    let platform = endpoint.platform();
    let objects = platform.sync_objects();
    let Some((_, can_delete)) = objects.iter().find(|(o, _)| *o == sync.object) else {
        let known: Vec<&str> = objects.iter().map(|(o, _)| *o).collect();
        return Err(violation(
            at,
            format!("syncs.{name}.object"),
            format!(
                "{} cannot be synced to object {:?}; expected one of: {}",
                platform.as_str(),
                sync.object,
                if known.is_empty() {
                    "(none)".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    };
    if sync.object == "events" && sync.mode != SyncMode::CreateOnly {
        return Err(violation(
            at,
            format!("syncs.{name}.mode"),
            "events are immutable once sent: use mode = \"create_only\"",
        ));
    }
    if let Some(on_delete) = &sync.on_delete {
        if sync.mode != SyncMode::Mirror {
            return Err(violation(
                on_delete.span(),
                format!("syncs.{name}.on_delete"),
                "on_delete applies to mode = \"mirror\" only",
            ));
        }
        if *on_delete.get_ref() == OnDelete::Delete && !can_delete {
            return Err(violation(
                on_delete.span(),
                format!("syncs.{name}.on_delete"),
                format!(
                    "{} {} cannot be deleted through the API; use on_delete = \"clear\"",
                    platform.as_str(),
                    sync.object
                ),
            ));
        }
    } else if sync.mode == SyncMode::Mirror && !can_delete {
        return Err(violation(
            at,
            format!("syncs.{name}.on_delete"),
            format!(
                "mirror mode needs on_delete = \"clear\" here: {} {} cannot be deleted through the API",
                platform.as_str(),
                sync.object
            ),
        ));
    }
    if sync.fields.is_empty() && sync.object != "events" {
        return Err(violation(
            at,
            format!("syncs.{name}.fields"),
            "map at least one destination field to a model column",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
