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
