//! `lockstep demo`: the whole pipeline on the embedded sandbox, in one process. It
//! starts the emulators with a generated store, extracts Shopify, HubSpot and
//! Klaviyo into a fresh warehouse, builds the models it finds, and reports what
//! happened (rows, API calls, 429s, models). Syncing back to the CRMs and the
//! fidelity report join it when the diff/sink stages land.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::config::{Project, Secret};
use crate::connectors::{hubspot, klaviyo, shopify};
use crate::extract::run::{Mode, run as extract};
use crate::extract::{ApiCounters, Source, incremental};
use crate::sandbox::{Sandbox, SandboxConfig};
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
    /// 429s the sandbox served in total.
    pub throttled_served: u64,
    /// Requests the sandbox served in total.
    pub requests_served: u64,
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
    let creds = &sandbox.credentials;
    let base = sandbox.base_url.clone();
    let sources: Vec<Box<dyn Source>> = vec![
        Box::new(shopify::ShopifySource::new(
            "shop",
            shopify::Client::new(
                "shopify source 'shop'".into(),
                base.clone(),
                "2026-07".into(),
                Secret::from_value("SHOPIFY_ACCESS_TOKEN", &creds.shopify_access_token),
            )?,
        )),
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
    ];
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
    let log = sandbox.log.to_json(0);
    let report = DemoReport {
        project: dir.display().to_string(),
        store: sandbox.shopify.state_json(),
        extracted,
        models,
        throttled_served: log["throttled_429"].as_u64().unwrap_or(0),
        requests_served: log["total"].as_u64().unwrap_or(0),
        seconds: started.elapsed().as_secs_f64(),
    };
    sandbox.shutdown().await;
    Ok(report)
}
