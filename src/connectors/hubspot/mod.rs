//! HubSpot CRM: contacts, read for identity resolution and audits (the sink for
//! contacts arrives with the sync work). Everything HubSpot-specific lives here.

pub mod client;
pub mod extract;
pub mod schema;

use std::sync::Arc;

use crate::config::EndpointConfig;
use crate::extract::{ApiCounters, ExtractError, Result, Source, Stream};

pub use client::Client;

/// A configured HubSpot account as a source.
pub struct HubSpotSource {
    name: String,
    client: Client,
}

impl HubSpotSource {
    /// Build from a `[sources.<name>]` table of kind `hubspot`.
    pub fn from_config(name: &str, cfg: &EndpointConfig) -> Result<HubSpotSource> {
        let token = cfg.token.clone().ok_or_else(|| {
            ExtractError::Usage(format!(
                "sources.{name}: `token` is required for kind = \"hubspot\""
            ))
        })?;
        let base = cfg
            .base_url
            .as_ref()
            .map_or_else(|| "https://api.hubapi.com".to_string(), |u| u.0.clone());
        let client = Client::new(
            format!("hubspot source '{name}'"),
            base,
            token,
            cfg.requests_per_10s,
        )?;
        Ok(HubSpotSource::new(name, client))
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
