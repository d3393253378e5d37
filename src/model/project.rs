//! Finding the models of a project: every `.sql` file under models/ (recursively) is
//! a model named after its file stem and materialized as `models.<stem>`; every
//! `.yml`/`.yaml` file there holds properties. References are resolved here: to a
//! model (a graph edge), to an existing warehouse table (a source), or to nothing
//! (an "unknown table" error at the reference's line and column).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::dag::{self, Dep};
use super::error::{ModelError, Result};
use super::properties::{self, Declared, Materialized, ModelProperties};
use super::references::{self, TableRef};
use super::sql_ref;
use super::udf::Settings;
use crate::config::Project;
use crate::warehouse::TableName;

/// What a reference in a model resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Another model.
    Model(String),
    /// A warehouse table that no model builds (raw data, sync state, ...).
    Table(TableName),
    /// DataFusion's own tables (information_schema).
    System,
}

/// One resolved reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// What it resolved to.
    pub target: Target,
    /// The name as written (normalized).
    pub written: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

/// One model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Name: the file stem; the table is `models.<name>`.
    pub name: String,
    /// The SQL file, relative to the project (as errors print it).
    pub file: String,
    /// The SQL as written.
    pub raw_sql: String,
    /// The SQL after sugar rewriting: what runs.
    pub sql: String,
    /// The tables it reads.
    pub reads: Vec<Read>,
    /// Properties from YAML (defaults when none were declared).
    pub properties: ModelProperties,
    /// The YAML file that declared the properties.
    pub properties_file: Option<String>,
}

impl Model {
    /// `models.<name>`.
    pub fn table(&self) -> Result<TableName> {
        TableName::new("models", &self.name).map_err(|e| ModelError::File {
            file: self.file.clone(),
            message: e.to_string(),
        })
    }

    /// Table or view.
    pub fn materialized(&self) -> Materialized {
        self.properties.config.materialized
    }

    /// The models it reads, with positions.
    pub fn model_deps(&self) -> Vec<Dep> {
        self.reads
            .iter()
            .filter_map(|r| match &r.target {
                Target::Model(m) => Some(Dep {
                    model: m.clone(),
                    line: r.line,
                    column: r.column,
                }),
                _ => None,
            })
            .collect()
    }
}

/// Every model of a project, in build order.
#[derive(Debug, Clone)]
pub struct ModelSet {
    settings: Settings,
    models: BTreeMap<String, Model>,
    order: Vec<String>,
    graph: BTreeMap<String, Vec<Dep>>,
}

impl ModelSet {
    /// Discover the models of `project`, resolving references against the tables
    /// that exist in the warehouse (`existing`).
    pub fn load(project: &Project, existing: &BTreeSet<TableName>) -> Result<ModelSet> {
        let mut set = ModelSet::load_dir(&project.models_dir(), &project.dir, existing)?;
        set.settings = Settings::of(project);
        Ok(set)
    }

    /// The project settings models see as SQL functions.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Discover models under `dir`; file names in errors are relative to `root`.
    pub fn load_dir(dir: &Path, root: &Path, existing: &BTreeSet<TableName>) -> Result<ModelSet> {
        let mut sql_files = Vec::new();
        let mut yaml_files = Vec::new();
        if dir.is_dir() {
            walk(dir, root, &mut sql_files, &mut yaml_files)?;
        }
        let mut declared = Vec::new();
        for (path, file) in &yaml_files {
            declared.extend(properties::parse(&read(path, file)?, file)?);
        }
        let mut declared = properties::merge(declared)?;

        let mut sources: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (path, file) in &sql_files {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if TableName::new("models", &name).is_err() {
                return Err(ModelError::File {
                    file: file.clone(),
                    message: "a model's file name must be lower-case letters, digits and underscores (it becomes the table models.<name>)".into(),
                });
            }
            if let Some((other, _)) = sources.get(&name) {
                return Err(ModelError::File {
                    file: file.clone(),
                    message: format!(
                        "model name {name:?} is already used by {other}; model names are unique across folders"
                    ),
                });
            }
            sources.insert(name, (file.clone(), read(path, file)?));
        }
        if let Some((name, d)) = declared.iter().find(|(n, _)| !sources.contains_key(*n)) {
            return Err(ModelError::at(
                &d.file,
                d.line,
                1,
                format!("properties for {name:?}, but there is no model file {name}.sql"),
            ));
        }

        let names: BTreeSet<String> = sources.keys().cloned().collect();
        let mut models = BTreeMap::new();
        for (name, (file, raw_sql)) in sources {
            let (properties, properties_file) = match declared.remove(&name) {
                Some(Declared {
                    properties, file, ..
                }) => (properties, Some(file)),
                None => (
                    ModelProperties {
                        name: name.clone(),
                        ..ModelProperties::default()
                    },
                    None,
                ),
            };
            let sql = sql_ref::rewrite(&raw_sql, Some(&name))
                .map_err(|e| ModelError::at(&file, e.line, e.column, e.message))?;
            let reads = analyse(&file, &sql, &names, existing)?;
            models.insert(
                name.clone(),
                Model {
                    name,
                    file,
                    raw_sql,
                    sql,
                    reads,
                    properties,
                    properties_file,
                },
            );
        }
        let graph: BTreeMap<String, Vec<Dep>> = models
            .values()
            .map(|m| (m.name.clone(), m.model_deps()))
            .collect();
        let order = dag::topo_order(&graph).map_err(|cycle| cycle_error(&models, &cycle))?;
        Ok(ModelSet {
            settings: Settings::default(),
            models,
            order,
            graph,
        })
    }

    /// Models in build order.
    pub fn in_order(&self) -> impl Iterator<Item = &Model> {
        self.order.iter().filter_map(|n| self.models.get(n))
    }

    /// One model by name.
    pub fn get(&self, name: &str) -> Option<&Model> {
        self.models.get(name)
    }

    /// Whether there are no models.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The model graph: model → models it reads.
    pub fn graph(&self) -> &BTreeMap<String, Vec<Dep>> {
        &self.graph
    }

    /// Names selected by dbt-style terms (none = all).
    pub fn select(&self, terms: &[String]) -> Result<BTreeSet<String>> {
        dag::select(&self.graph, terms).map_err(|dag::UnknownModel(name)| {
            ModelError::UnknownSelection {
                name,
                known: self.order.join(", "),
            }
        })
    }

    /// Every model `name` reads, directly or not.
    pub fn ancestors(&self, name: &str) -> BTreeSet<String> {
        dag::ancestors(&self.graph, name)
    }
}

/// Parse a model's (rewritten) SQL and resolve its references.
fn analyse(
    file: &str,
    sql: &str,
    models: &BTreeSet<String>,
    existing: &BTreeSet<TableName>,
) -> Result<Vec<Read>> {
    let refs = references::table_references(sql).map_err(|p| {
        let (line, column) = p.position.unwrap_or((1, 1));
        ModelError::at(file, line, column, p.message)
    })?;
    refs.into_iter()
        .map(|r| {
            let target = resolve(&r, models, existing)
                .ok_or_else(|| ModelError::at(file, r.line, r.column, unknown_table_message(&r)))?;
            Ok(Read {
                target,
                written: r.display(),
                line: r.line,
                column: r.column,
            })
        })
        .collect()
}

/// Resolve one reference; `None` if it names neither a model nor a table.
pub fn resolve(
    r: &TableRef,
    models: &BTreeSet<String>,
    existing: &BTreeSet<TableName>,
) -> Option<Target> {
    let parts: Vec<&str> = r.parts.iter().map(String::as_str).collect();
    let (area, name) = match parts.as_slice() {
        // Bare names resolve in the default schema, `models`.
        [name] => ("models", *name),
        [area, name] | ["lockstep", area, name] => (*area, *name),
        _ => return None,
    };
    if area == "information_schema" {
        return Some(Target::System);
    }
    if area == "models" && models.contains(name) {
        return Some(Target::Model(name.to_string()));
    }
    let table = TableName::new(area, name).ok()?;
    existing.contains(&table).then_some(Target::Table(table))
}

fn unknown_table_message(r: &TableRef) -> String {
    let name = r.display();
    let hint = if name.starts_with("raw_") {
        "it has not been extracted yet (run `lockstep extract` or `lockstep backfill`)"
    } else {
        "it is neither a model in models/ nor a warehouse table (`lockstep status` lists tables)"
    };
    format!("unknown table {name}: {hint}")
}

fn cycle_error(models: &BTreeMap<String, Model>, cycle: &dag::Cycle) -> ModelError {
    let file = |m: &str| models.get(m).map_or(m.to_string(), |m| m.file.clone());
    let path = cycle
        .iter()
        .map(|(m, dep)| {
            format!(
                "{m} ({}:{}:{} reads {})",
                file(m),
                dep.line,
                dep.column,
                dep.model
            )
        })
        .collect::<Vec<_>>()
        .join(" -> ");
    let at = cycle
        .first()
        .map(|(m, dep)| format!("{}:{}:{}", file(m), dep.line, dep.column))
        .unwrap_or_else(|| "models".into());
    ModelError::Cycle { at, path }
}

fn read(path: &Path, file: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| ModelError::Read {
        file: file.to_string(),
        source,
    })
}

/// Collect `.sql` and `.yml`/`.yaml` files under `dir` (sorted, hidden entries
/// skipped), each with its path relative to `root` for messages.
fn walk(
    dir: &Path,
    root: &Path,
    sql: &mut Vec<(PathBuf, String)>,
    yaml: &mut Vec<(PathBuf, String)>,
) -> Result<()> {
    let display = |p: &Path| {
        p.strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    let entries = std::fs::read_dir(dir).map_err(|source| ModelError::Read {
        file: display(dir),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            walk(&path, root, sql, yaml)?;
            continue;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("sql") => sql.push((path.clone(), display(&path))),
            Some("yml" | "yaml") => yaml.push((path.clone(), display(&path))),
            _ => {}
        }
    }
    Ok(())
}
