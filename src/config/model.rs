//! The shape of lockstep.toml: every section a typed struct that rejects unknown keys,
//! so a typo is an error at load time instead of a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::env::{EnvString, Secret};

/// The whole project file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Project-wide settings.
    #[serde(default)]
    pub project: ProjectSection,
    /// Where the warehouse lives.
    #[serde(default)]
    pub warehouse: WarehouseSection,
    /// Systems data is extracted from, by name.
    #[serde(default)]
    pub sources: BTreeMap<String, EndpointConfig>,
    /// Systems data is pushed to, by name.
    #[serde(default)]
    pub destinations: BTreeMap<String, EndpointConfig>,
    /// Model → destination syncs, by name.
    #[serde(default)]
    pub syncs: BTreeMap<String, SyncConfig>,
    /// Field ownership: `"<destination>.<object>.<field>" = "<system>"`. A field owned
    /// by a destination may not be written by any sync.
    #[serde(default)]
    pub ownership: BTreeMap<String, Spanned<String>>,
    /// Named schedules.
    #[serde(default)]
    pub schedules: BTreeMap<String, ScheduleConfig>,
}

/// `[project]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSection {
    /// Human name of the project.
    #[serde(default = "default_project_name")]
    pub name: String,
    /// ISO 4217 code all money is normalized to.
    #[serde(default = "default_currency")]
    pub reporting_currency: Spanned<String>,
    /// Directory of SQL models, relative to the project.
    #[serde(default = "default_models_dir")]
    pub models_dir: String,
    /// Survivorship order of sources for golden records (first wins on ties).
    #[serde(default)]
    pub source_priority: Vec<String>,
}

impl Default for ProjectSection {
    fn default() -> Self {
        ProjectSection {
            name: default_project_name(),
            reporting_currency: Spanned::new(0..0, default_currency_str()),
            models_dir: default_models_dir(),
            source_priority: Vec::new(),
        }
    }
}

fn default_project_name() -> String {
    "lockstep".into()
}
fn default_currency_str() -> String {
    "USD".into()
}
fn default_currency() -> Spanned<String> {
    Spanned::new(0..0, default_currency_str())
}
fn default_models_dir() -> String {
    "models".into()
}

/// `[warehouse]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseSection {
    /// `file://` path (relative to the project), `s3://`, `gs://`, `az://` or `memory://`.
    #[serde(default = "default_warehouse_url")]
    pub url: Spanned<EnvString>,
    /// Extra object_store options (e.g. `aws_region`, `aws_endpoint`); credentials come
    /// from the standard environment variables.
    #[serde(default)]
    pub options: BTreeMap<String, EnvString>,
    /// How long a model table's replaced versions stay readable (`90s`, `15m`, `2h`,
    /// `7d`): after each `lockstep run`, data files only older versions use are
    /// deleted. Default [`DEFAULT_MODEL_RETENTION`].
    #[serde(default)]
    pub model_retention: Option<Spanned<String>>,
}

/// Replaced model versions stay a day: yesterday's numbers can still be read back,
/// and an hourly schedule keeps a day of copies, not every copy it ever wrote.
pub const DEFAULT_MODEL_RETENTION: &str = "24h";

impl Default for WarehouseSection {
    fn default() -> Self {
        WarehouseSection {
            url: default_warehouse_url(),
            options: BTreeMap::new(),
            model_retention: None,
        }
    }
}

fn default_warehouse_url() -> Spanned<EnvString> {
    Spanned::new(0..0, EnvString("file://./warehouse".into()))
}

/// A platform lockstep talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Shopify Admin API.
    Shopify,
    /// HubSpot CRM.
    Hubspot,
    /// Klaviyo.
    Klaviyo,
}

impl Platform {
    /// Objects a sync may write on this platform, and whether each can delete.
    pub fn sync_objects(self) -> &'static [(&'static str, bool)] {
        match self {
            Platform::Shopify => &[],
            Platform::Hubspot => &[("contacts", true)],
            Platform::Klaviyo => &[("profiles", false), ("events", false)],
        }
    }

    /// Lower-case name, as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::Hubspot => "hubspot",
            Platform::Klaviyo => "klaviyo",
        }
    }

    /// Keys a table of this kind must have, and keys it may have.
    pub(super) fn keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Platform::Shopify => (
                &["shop", "access_token"],
                &["base_url", "api_version", "webhook_secret", "lookback"],
            ),
            Platform::Hubspot => (
                &["token"],
                &["base_url", "client_secret", "requests_per_10s", "lookback"],
            ),
            Platform::Klaviyo => (&["api_key"], &["base_url", "revision", "lookback"]),
        }
    }
}

/// A `[sources.<name>]` or `[destinations.<name>]` table. One flat shape for all
/// platforms (validated per `kind` after parsing) so every value keeps its position
/// in the file for error messages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// Which platform.
    pub kind: Spanned<Platform>,
    /// Override of the API host (the sandbox, a proxy).
    pub base_url: Option<EnvString>,
    /// Shopify: shop handle (`<shop>.myshopify.com`).
    pub shop: Option<String>,
    /// Shopify: Admin API access token, as `"${VAR}"`.
    pub access_token: Option<Secret>,
    /// Shopify: Admin API version (default 2026-07).
    pub api_version: Option<String>,
    /// Shopify: webhook signing secret, as `"${VAR}"`.
    pub webhook_secret: Option<Secret>,
    /// HubSpot: private-app token, as `"${VAR}"`.
    pub token: Option<Secret>,
    /// HubSpot: app client secret for webhook signatures, as `"${VAR}"`.
    pub client_secret: Option<Secret>,
    /// HubSpot: requests per 10 seconds the account allows.
    pub requests_per_10s: Option<u32>,
    /// Klaviyo: private API key, as `"${VAR}"`.
    pub api_key: Option<Secret>,
    /// Klaviyo: API revision header (default 2026-07-15).
    pub revision: Option<String>,
    /// How far back incremental runs re-read to catch late updates (e.g. `"2h"`).
    pub lookback: Option<String>,
}

impl EndpointConfig {
    /// Names of the keys set in this table.
    pub(super) fn present_keys(&self) -> Vec<&'static str> {
        let flags = [
            ("base_url", self.base_url.is_some()),
            ("shop", self.shop.is_some()),
            ("access_token", self.access_token.is_some()),
            ("api_version", self.api_version.is_some()),
            ("webhook_secret", self.webhook_secret.is_some()),
            ("token", self.token.is_some()),
            ("client_secret", self.client_secret.is_some()),
            ("requests_per_10s", self.requests_per_10s.is_some()),
            ("api_key", self.api_key.is_some()),
            ("revision", self.revision.is_some()),
            ("lookback", self.lookback.is_some()),
        ];
        flags
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(k, _)| k)
            .collect()
    }

    /// The platform.
    pub fn platform(&self) -> Platform {
        *self.kind.get_ref()
    }
}

/// A `[syncs.<name>]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// The model the rows come from.
    pub model: String,
    /// Name of a `[destinations.*]` entry.
    pub destination: Spanned<String>,
    /// Destination object (`contacts`, `profiles`, ...).
    pub object: String,
    /// How rows are applied.
    #[serde(default)]
    pub mode: SyncMode,
    /// How model rows and destination records are matched.
    pub key: KeyMapping,
    /// Destination field → model column.
    #[serde(default)]
    pub fields: BTreeMap<String, Spanned<String>>,
    /// Mirror mode: what happens to a destination record whose row left the model.
    #[serde(default)]
    pub on_delete: Option<Spanned<OnDelete>>,
}

/// What `mode = "mirror"` does with records whose rows left the model.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDelete {
    /// Delete (archive) the destination record.
    #[default]
    Delete,
    /// Keep the record but clear the fields this sync writes.
    Clear,
}

impl SyncMode {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::UpdateOrCreate => "update_or_create",
            SyncMode::UpdateOnly => "update_only",
            SyncMode::CreateOnly => "create_only",
            SyncMode::Mirror => "mirror",
        }
    }
}

/// Sync behaviours, named as reverse-ETL users know them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Update existing records and create missing ones.
    #[default]
    UpdateOrCreate,
    /// Only update records that exist.
    UpdateOnly,
    /// Only create records that do not exist.
    CreateOnly,
    /// Make the destination equal the model: rows gone from the model are deleted.
    Mirror,
}

/// Key mapping of a sync.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyMapping {
    /// Model column holding the key.
    pub model: String,
    /// Destination property matched against it.
    pub destination: String,
}

/// A `[schedules.<name>]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Standard 5-field crontab (`"0 3 * * *"`), 6/7 fields with seconds, or `@daily`-style.
    pub cron: Spanned<String>,
    /// Steps to run in order: `extract`, `run`, `test`, `sync:<name>`, ...
    pub run: Vec<String>,
}
