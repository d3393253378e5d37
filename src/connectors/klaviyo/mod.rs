//! Klaviyo: profiles, read for identity resolution and audits (profile and event
//! sinks arrive with the sync work). Everything Klaviyo-specific lives here.

pub mod client;
pub mod extract;
pub mod schema;

use std::sync::Arc;

use crate::config::EndpointConfig;
use crate::extract::{ApiCounters, ExtractError, Result, Source, Stream};

pub use client::Client;

/// A configured Klaviyo account as a source.
pub struct KlaviyoSource {
    name: String,
    client: Client,
}

impl KlaviyoSource {
    /// Build from a `[sources.<name>]` table of kind `klaviyo`.
    pub fn from_config(name: &str, cfg: &EndpointConfig) -> Result<KlaviyoSource> {
        let key = cfg.api_key.clone().ok_or_else(|| {
            ExtractError::Usage(format!(
                "sources.{name}: `api_key` is required for kind = \"klaviyo\""
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
        let client = Client::new(format!("klaviyo source '{name}'"), base, key, revision)?;
        Ok(KlaviyoSource::new(name, client))
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
