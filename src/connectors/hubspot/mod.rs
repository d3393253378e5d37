//! HubSpot CRM: contacts, read for identity resolution and audits and written by
//! syncs. Everything HubSpot-specific lives here.

pub mod client;
pub mod extract;
pub mod schema;
pub mod sink;

use std::sync::Arc;

use crate::config::EndpointConfig;
use crate::extract::{ApiCounters, ExtractError, Result, Source, Stream};

pub use client::Client;

/// The client a `[<section>.<name>]` table of kind `hubspot` describes.
fn client(section: &str, role: &str, name: &str, cfg: &EndpointConfig) -> Result<Client> {
    let token = cfg.token.clone().ok_or_else(|| {
        ExtractError::Usage(format!(
            "{section}.{name}: `token` is required for kind = \"hubspot\""
        ))
    })?;
    let base = cfg
        .base_url
        .as_ref()
        .map_or_else(|| "https://api.hubapi.com".to_string(), |u| u.0.clone());
    Client::new(
        format!("hubspot {role} '{name}'"),
        base,
        token,
        cfg.requests_per_10s,
    )
}

/// The destination a sync to a `[destinations.<name>]` table of kind `hubspot` writes.
pub fn destination(
    name: &str,
    cfg: &EndpointConfig,
    spec: crate::diff::SyncSpec,
) -> Result<Arc<dyn crate::sink::Destination>> {
    let client = client("destinations", "destination", name, cfg)?;
    Ok(Arc::new(sink::ContactsSink::new(name, client, spec)))
}

/// A configured HubSpot account as a source.
pub struct HubSpotSource {
    name: String,
    client: Client,
}

impl HubSpotSource {
    /// Build from a `[sources.<name>]` table of kind `hubspot`.
    pub fn from_config(name: &str, cfg: &EndpointConfig) -> Result<HubSpotSource> {
        Ok(HubSpotSource::new(
            name,
            client("sources", "source", name, cfg)?,
        ))
    }

    /// Build from a ready client.
    pub fn new(name: &str, client: Client) -> HubSpotSource {
        HubSpotSource {
            name: name.to_string(),
            client,
        }
    }
}

impl Source for HubSpotSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        vec![Arc::new(extract::Contacts {
            client: self.client.clone(),
        })]
    }

    fn counters(&self) -> ApiCounters {
        self.client.api().stats().snapshot()
    }
}
