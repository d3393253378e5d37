//! `lockstep demo`: the whole pipeline on the embedded sandbox, in one process. It
//! starts the emulators with a generated store, extracts Shopify, HubSpot and
//! Klaviyo into a fresh warehouse, builds and tests the models it finds, measures
//! record fidelity of the CRM as extracted, syncs `models.crm_profiles` to HubSpot
//! contacts and Klaviyo profiles, reads HubSpot back and measures fidelity again,
//! then syncs once more to show that an unchanged model costs no write calls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use std::sync::Arc;

use crate::config::{Project, Secret};
use crate::connectors::{hubspot, klaviyo, shopify};
use crate::diff::{Mapped, Mode as SyncMode, SyncSpec};
use crate::extract::run::{Mode, run as extract};
use crate::extract::{ApiCounters, Source, incremental};
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::sink::Destination;
use crate::warehouse::TableName;
use crate::warehouse::Warehouse;

/// What to run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Generator seed.
    pub seed: u64,
    /// Store customers.
    pub customers: usize,
    /// Store orders.
    pub orders: usize,
    /// Project directory to create (must not hold a lockstep.toml yet).
    pub dir: PathBuf,
    /// Models to build (none when absent).
    pub models: Option<PathBuf>,
}

/// Per-source extraction figures.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// Source name.
    pub source: String,
    /// Rows landed per raw table.
    pub rows: BTreeMap<String, u64>,
    /// API calls, 429s met and retries.
    pub api: ApiCounters,
    /// Seconds taken.
    pub seconds: f64,
}

/// What the demo did.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// The project it created (explore it with `lockstep --project DIR sql`).
    pub project: String,
    /// The generated store.
    pub store: serde_json::Value,
    /// Extraction per source.
    pub extracted: Vec<SourceReport>,
    /// Models built, with rows.
    pub models: Vec<crate::model::ModelResult>,
    /// Data tests run and failed.
    pub tests: TestsSummary,
    /// Syncs applied.
    pub syncs: Vec<SyncSummary>,
    /// HubSpot record fidelity as extracted, before any sync.
    pub fidelity_before: Option<crate::audit::Fidelity>,
    /// HubSpot record fidelity read back after the syncs.
    pub fidelity_after: Option<crate::audit::Fidelity>,
    /// Write calls a second sync of the unchanged model made (expected: 0).
    pub resync_write_calls: Option<u64>,
    /// 429s the sandbox served in total.
    pub throttled_served: u64,
    /// Requests the sandbox served in total.
    pub requests_served: u64,
    /// Wall time.
    pub seconds: f64,
}

/// Data tests of the demo's models.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TestsSummary {
    /// Tests run.
    pub run: usize,
    /// Tests that did not pass.
    pub failed: usize,
}

/// One sync the demo applied.
#[derive(Debug, Clone, Serialize)]
pub struct SyncSummary {
    /// Sync name.
    pub sync: String,
    /// What it writes.
    pub destination: String,
    /// Plan counts.
    pub planned: crate::diff::Counts,
    /// Rows acknowledged.
    pub acked: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// API calls, 429s, retries of the sync.
    pub api: ApiCounters,
    /// Wall time.
    pub seconds: f64,
}

/// Errors of the demo (each names its stage).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The project could not be created.
    #[error("demo project {dir}: {message}")]
    Project {
        /// Where.
        dir: String,
        /// What.
        message: String,
    },
    /// The sandbox did not start.
    #[error("sandbox: {0}")]
    Sandbox(#[from] crate::sandbox::SandboxError),
    /// Extraction failed.
    #[error("extract: {0}")]
    Extract(#[from] crate::extract::ExtractError),
    /// Building models failed.
    #[error("models: {0}")]
    Model(#[from] crate::model::ModelError),
    /// A sync failed.
    #[error("sync: {0}")]
    Sync(Box<crate::sink::SyncError>),
    /// Measuring fidelity failed.
    #[error("audit: {0}")]
    Audit(#[from] crate::audit::fidelity::AuditError),
}

impl From<crate::sink::SyncError> for DemoError {
    fn from(e: crate::sink::SyncError) -> Self {
        DemoError::Sync(Box::new(e))
    }
}

fn project_error(dir: &Path, message: impl ToString) -> DemoError {
    DemoError::Project {
        dir: dir.display().to_string(),
        message: message.to_string(),
    }
}

/// Run the demo.
pub async fn run(options: &DemoOptions) -> Result<DemoReport, DemoError> {
    let started = Instant::now();
    let dir = &options.dir;
    if dir.join(crate::config::FILE_NAME).exists() {
        return Err(project_error(
            dir,
            "already holds a lockstep.toml; pick a new --dir",
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| project_error(dir, e))?;
    let models_dir = match &options.models {
        Some(m) => std::path::absolute(m).map_err(|e| project_error(dir, e))?,
        None => dir.join("models"),
    };
    std::fs::create_dir_all(&models_dir).map_err(|e| project_error(dir, e))?;
    let toml = format!(
        "[project]\nname = \"lockstep-demo\"\nmodels_dir = {:?}\n\n[warehouse]\nurl = \"file://./warehouse\"\n",
        models_dir.display().to_string()
    );
    std::fs::write(dir.join(crate::config::FILE_NAME), toml).map_err(|e| project_error(dir, e))?;
    let project = Project::load(dir).map_err(|e| project_error(dir, e))?;
    let warehouse = Warehouse::for_project(&project).map_err(|e| project_error(dir, e))?;

    let mut cfg = SandboxConfig::default();
    cfg.generator.seed = options.seed;
    cfg.generator.customers = options.customers;
    cfg.generator.orders = options.orders;
    let sandbox = Sandbox::start(cfg).await?;
    let mut sources: Vec<Box<dyn Source>> = vec![Box::new(sandbox_shopify_source(&sandbox)?)];
    sources.extend(sandbox_crm_sources(&sandbox)?);
    let mut extracted = Vec::new();
    for source in &sources {
        let t = Instant::now();
        let mut rows = BTreeMap::new();
        for stream in source.streams() {
            let reports = extract(
                &warehouse,
                source.as_ref(),
                Some(stream.name()),
                Mode::Incremental(incremental::Options::default()),
            )
            .await?;
            for r in reports {
                for (entity, n) in r.rows {
                    *rows
                        .entry(format!("raw_{}.{entity}", source.name()))
                        .or_insert(0) += n;
                }
            }
        }
        extracted.push(SourceReport {
            source: source.name().to_string(),
            rows,
            api: source.counters(),
            seconds: t.elapsed().as_secs_f64(),
        });
    }
    let models = crate::model::run(&project, &warehouse, &[], &mut |_| {})
        .await?
        .models;
    let mut tests = TestsSummary::default();
    let mut syncs = Vec::new();
    let (mut fidelity_before, mut fidelity_after, mut resync_write_calls) = (None, None, None);
    if models.iter().any(|m| m.model == PROFILES_MODEL) {
        let report = crate::model::test(&project, &warehouse, &[]).await?;
        tests.run = report.outcomes.len();
        tests.failed = report
            .outcomes
            .iter()
            .filter(|o| o.status != "pass")
            .count();
        let crm = table("raw_hubspot", "contacts")?;
        let truth = table("models", PROFILES_MODEL)?;
        fidelity_before =
            Some(crate::audit::measure(&warehouse, &crm, &truth, "before sync").await?);
        let targets = demo_syncs(&sandbox.base_url, &sandbox.credentials)?;
        for (spec, dest) in &targets {
            let outcome =
                crate::sink::sync(&project, &warehouse, spec, dest.clone(), Default::default())
                    .await?;
            let run = &outcome.run;
            if let Some(e) = &run.error {
                return Err(DemoError::Project {
                    dir: dir.display().to_string(),
                    message: format!("sync {}: {e}", spec.name),
                });
            }
            syncs.push(SyncSummary {
                sync: spec.name.clone(),
                destination: dest.describe(),
                planned: outcome.plan.counts,
                acked: run.acked,
                rejected: run.rejected,
                api: run.api,
                seconds: run.seconds,
            });
        }
        // Read HubSpot back through the same extractor and measure again.
        extract(
            &warehouse,
            sources[1].as_ref(),
            Some("contacts"),
            Mode::Incremental(incremental::Options::default()),
        )
        .await?;
        fidelity_after = Some(crate::audit::measure(&warehouse, &crm, &truth, "after sync").await?);
        let mut calls = 0;
        for (spec, dest) in &targets {
            calls +=
                crate::sink::sync(&project, &warehouse, spec, dest.clone(), Default::default())
                    .await?
                    .run
                    .api
                    .requests;
        }
        resync_write_calls = Some(calls);
    }
    let log = sandbox.log.to_json(0);
    let report = DemoReport {
        project: dir.display().to_string(),
        store: sandbox.shopify.state_json(),
        extracted,
        models,
        tests,
        syncs,
        fidelity_before,
        fidelity_after,
        resync_write_calls,
        throttled_served: log["throttled_429"].as_u64().unwrap_or(0),
        requests_served: log["total"].as_u64().unwrap_or(0),
        seconds: started.elapsed().as_secs_f64(),
    };
    sandbox.shutdown().await;
    Ok(report)
}

/// The model the demo's syncs push.
const PROFILES_MODEL: &str = "crm_profiles";

fn table(area: &str, name: &str) -> Result<TableName, DemoError> {
    TableName::new(area, name).map_err(|e| project_error(Path::new("."), e))
}

/// A sync and the destination it writes.
type Target = (SyncSpec, Arc<dyn Destination>);

/// The syncs the demo applies: `models.crm_profiles` to HubSpot contacts and to
/// Klaviyo profiles, keyed by email, with the four fidelity fields.
fn demo_syncs(base: &str, creds: &crate::sandbox::Credentials) -> Result<Vec<Target>, DemoError> {
    let fields = |names: &[(&str, &str)]| -> Vec<Mapped> {
        names
            .iter()
            .map(|(field, column)| Mapped {
                field: field.to_string(),
                column: column.to_string(),
            })
            .collect()
    };
    let four = [
        ("last_order_date", "last_order_date"),
        ("orders_count", "orders_count"),
        ("primary_tag", "primary_tag"),
        ("total_spent", "total_spent"),
    ];
    let spec = |name: &str, object: &str| SyncSpec {
        name: name.into(),
        model: PROFILES_MODEL.into(),
        object: object.into(),
        key_column: "email".into(),
        key_field: "email".into(),
        fields: fields(&four),
        mode: SyncMode::UpdateOrCreate,
    };
    let hubspot_spec = spec("hubspot_contacts", "contacts");
    let klaviyo_spec = spec("klaviyo_profiles", "profiles");
    let hubspot: Arc<dyn Destination> = Arc::new(hubspot::sink::ContactsSink::new(
        "hubspot",
        hubspot::Client::new(
            "hubspot destination 'hubspot'".into(),
            base.to_string(),
            Secret::from_value("HUBSPOT_TOKEN", &creds.hubspot_token),
            None,
        )?,
        hubspot_spec.clone(),
    ));
    let klaviyo: Arc<dyn Destination> = Arc::new(klaviyo::sink::ProfilesSink::new(
        "klaviyo",
        klaviyo::Client::new(
            "klaviyo destination 'klaviyo'".into(),
            base.to_string(),
            Secret::from_value("KLAVIYO_API_KEY", &creds.klaviyo_api_key),
            klaviyo::client::REVISION.into(),
        )?,
        klaviyo_spec.clone(),
    ));
    Ok(vec![(hubspot_spec, hubspot), (klaviyo_spec, klaviyo)])
}

/// The Shopify source of a running sandbox, named `shop` as in the demo project
/// (also used by the benches).
pub fn sandbox_shopify_source(
    sandbox: &crate::sandbox::SandboxHandle,
) -> Result<shopify::ShopifySource, crate::extract::ExtractError> {
    Ok(shopify::ShopifySource::new(
        "shop",
        shopify::Client::new(
            "shopify source 'shop'".into(),
            sandbox.base_url.clone(),
            shopify::DEFAULT_API_VERSION.into(),
            Secret::from_value(
                "SHOPIFY_ACCESS_TOKEN",
                &sandbox.credentials.shopify_access_token,
            ),
        )?,
    ))
}

/// The HubSpot and Klaviyo sources of a running sandbox, named `hubspot` and
/// `klaviyo` as in the demo project (also used by the model-build bench).
pub fn sandbox_crm_sources(
    sandbox: &crate::sandbox::SandboxHandle,
) -> Result<Vec<Box<dyn Source>>, crate::extract::ExtractError> {
    let (creds, base) = (&sandbox.credentials, &sandbox.base_url);
    Ok(vec![
        Box::new(hubspot::HubSpotSource::new(
            "hubspot",
            hubspot::Client::new(
                "hubspot source 'hubspot'".into(),
                base.clone(),
                Secret::from_value("HUBSPOT_TOKEN", &creds.hubspot_token),
                None,
            )?,
        )),
        Box::new(klaviyo::KlaviyoSource::new(
            "klaviyo",
            klaviyo::Client::new(
                "klaviyo source 'klaviyo'".into(),
                base.clone(),
                Secret::from_value("KLAVIYO_API_KEY", &creds.klaviyo_api_key),
                klaviyo::client::REVISION.into(),
            )?,
        )),
    ])
}
