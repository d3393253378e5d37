//! Shopify: the Admin REST API for incremental extraction and GraphQL bulk
//! operations for backfills. Everything Shopify-specific lives in this folder.

pub mod bulk;
mod bulk_columns;
mod bulk_line;
pub mod bulk_map;
pub mod client;
mod cost;
pub mod rest;
pub mod schema;

use std::sync::Arc;

use crate::config::EndpointConfig;
use crate::extract::{ApiCounters, ExtractError, Result, Source, Stream};

pub use bulk::{BulkStream, Polling};
pub use client::Client;
pub use rest::{Resource, RestStream};

/// The Admin API version requested when a source's config names none.
pub const DEFAULT_API_VERSION: &str = "2026-07";

/// A configured Shopify store.
pub struct ShopifySource {
    name: String,
    client: Client,
    page_size: u32,
    polling: Polling,
}

impl ShopifySource {
    /// Build from a `[sources.<name>]` table of kind `shopify`.
    pub fn from_config(name: &str, cfg: &EndpointConfig) -> Result<ShopifySource> {
        let missing = |k: &str| {
            ExtractError::Usage(format!(
                "sources.{name}: `{k}` is required for kind = \"shopify\""
            ))
        };
        let shop = cfg.shop.as_deref().ok_or_else(|| missing("shop"))?;
        let token = cfg
            .access_token
            .clone()
            .ok_or_else(|| missing("access_token"))?;
        let base = match &cfg.base_url {
            Some(url) => url.0.clone(),
            None => format!("https://{shop}.myshopify.com"),
        };
        let version = cfg
            .api_version
            .clone()
            .unwrap_or_else(|| DEFAULT_API_VERSION.into());
        let client = Client::new(format!("shopify source '{name}'"), base, version, token)?;
        Ok(ShopifySource::new(name, client))
    }

    /// Build from a ready client.
    pub fn new(name: &str, client: Client) -> ShopifySource {
        ShopifySource {
            name: name.to_string(),
            client,
            page_size: rest::MAX_PAGE_SIZE,
            polling: Polling::default(),
        }
    }

    /// How bulk jobs are polled (tests shorten the waits and the timeout).
    pub fn with_polling(mut self, polling: Polling) -> ShopifySource {
        self.polling = polling;
        self
    }

    /// Smaller REST pages (tests of pagination and pacing).
    pub fn with_page_size(mut self, page_size: u32) -> ShopifySource {
        self.page_size = page_size.clamp(1, rest::MAX_PAGE_SIZE);
        self
    }
}

impl Source for ShopifySource {
    fn name(&self) -> &str {
        &self.name
    }

    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        Resource::ALL
            .iter()
            .map(|r| {
                // Customers and orders backfill through bulk operations; the rest
                // (and every incremental run) page the REST API.
                let root = match r {
                    Resource::Customers => Some(bulk_map::Root::Customers),
                    Resource::Orders => Some(bulk_map::Root::Orders),
                    Resource::Products | Resource::InventoryLevels => None,
                };
                let bulk = root.map(|root| {
                    Arc::new(BulkStream::new(
                        self.client.clone(),
                        &self.name,
                        root,
                        self.polling,
                    )) as Arc<dyn crate::extract::BulkExport>
                });
                Arc::new(RestStream {
                    client: self.client.clone(),
                    resource: *r,
                    page_size: self.page_size,
                    bulk,
                }) as Arc<dyn Stream>
            })
            .collect()
    }

    fn counters(&self) -> ApiCounters {
        self.client.api().stats().snapshot()
    }
}
