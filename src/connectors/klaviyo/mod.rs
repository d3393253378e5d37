//! Klaviyo: profiles, read for identity resolution and audits; profiles and events
//! written by syncs. Everything Klaviyo-specific lives here.

pub mod client;
pub mod extract;
pub mod schema;
pub mod sink;

use std::sync::Arc;

use crate::config::EndpointConfig;
use crate::extract::{ApiCounters, ExtractError, Result, Source, Stream};

pub use client::Client;

/// The client a `[<section>.<name>]` table of kind `klaviyo` describes.
fn client(section: &str, role: &str, name: &str, cfg: &EndpointConfig) -> Result<Client> {
    let key = cfg.api_key.clone().ok_or_else(|| {
        ExtractError::Usage(format!(
            "{section}.{name}: `api_key` is required for kind = \"klaviyo\""
        ))
    })?;
    let base = cfg
        .base_url
        .as_ref()
        .map_or_else(|| "https://a.klaviyo.com".to_string(), |u| u.0.clone());
    let revision = cfg
        .revision
        .clone()
        .unwrap_or_else(|| client::REVISION.to_string());
    Client::new(format!("klaviyo {role} '{name}'"), base, key, revision)
}

/// The destination a sync to a `[destinations.<name>]` table of kind `klaviyo` writes.
pub fn destination(
    name: &str,
    cfg: &EndpointConfig,
    spec: crate::diff::SyncSpec,
) -> Result<Arc<dyn crate::sink::Destination>> {
    let client = client("destinations", "destination", name, cfg)?;
    match spec.object.as_str() {
        "events" => Ok(Arc::new(sink::EventsSink::new(name, client, spec)?)),
        _ => Ok(Arc::new(sink::ProfilesSink::new(name, client, spec))),
    }
}

/// A configured Klaviyo account as a source.
pub struct KlaviyoSource {
    name: String,
    client: Client,
}

impl KlaviyoSource {
    /// Build from a `[sources.<name>]` table of kind `klaviyo`.
    pub fn from_config(name: &str, cfg: &EndpointConfig) -> Result<KlaviyoSource> {
        Ok(KlaviyoSource::new(
            name,
            client("sources", "source", name, cfg)?,
        ))
    }

    /// Build from a ready client.
    pub fn new(name: &str, client: Client) -> KlaviyoSource {
        KlaviyoSource {
            name: name.to_string(),
            client,
        }
    }
}

impl Source for KlaviyoSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        vec![Arc::new(extract::Profiles {
            client: self.client.clone(),
        })]
    }

    fn counters(&self) -> ApiCounters {
        self.client.api().stats().snapshot()
    }
}
