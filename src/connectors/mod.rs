//! Connectors: one folder per platform, the only code that knows a platform's URLs
//! and JSON shapes. This file is the registry the CLI uses to turn a configured
//! source into something the engine can run.

pub mod hubspot;
pub mod klaviyo;
pub mod shopify;

use std::sync::Arc;

use crate::config::{EndpointConfig, Platform};
use crate::extract::{ExtractError, Source};

/// The source configured as `[sources.<name>]`.
pub fn source(name: &str, cfg: &EndpointConfig) -> Result<Arc<dyn Source>, ExtractError> {
    match cfg.platform() {
        Platform::Shopify => Ok(Arc::new(shopify::ShopifySource::from_config(name, cfg)?)),
        Platform::Hubspot => Ok(Arc::new(hubspot::HubSpotSource::from_config(name, cfg)?)),
        Platform::Klaviyo => Ok(Arc::new(klaviyo::KlaviyoSource::from_config(name, cfg)?)),
    }
}

/// The destination a sync writes: `[destinations.<name>]` configured for `spec`.
pub fn destination(
    name: &str,
    cfg: &EndpointConfig,
    spec: crate::diff::SyncSpec,
) -> Result<Arc<dyn crate::sink::Destination>, ExtractError> {
    match cfg.platform() {
        Platform::Hubspot => hubspot::destination(name, cfg, spec),
        Platform::Klaviyo => klaviyo::destination(name, cfg, spec),
        Platform::Shopify => Err(ExtractError::Usage(format!(
            "destinations.{name}: shopify is not a sync destination"
        ))),
    }
}
