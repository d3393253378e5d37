//! GraphQL Admin API (placeholder until the bulk subset lands).

use std::sync::Mutex;
use std::time::Instant;

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::Shopify;

/// The GraphQL cost bucket: `maximumAvailable` points, refilled at `restoreRate`/s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostConfig {
    pub maximum_available: f64,
    pub restore_rate: f64,
    /// Status of a THROTTLED answer: 200 (most observed) or 429.
    pub throttle_status: u16,
}

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig { maximum_available: 2000.0, restore_rate: 100.0, throttle_status: 200 }
    }
}

pub struct CostBucket {
    cfg: CostConfig,
    state: Mutex<(f64, Instant)>,
}

impl CostBucket {
    pub fn new(cfg: CostConfig) -> CostBucket {
        CostBucket { cfg, state: Mutex::new((cfg.maximum_available, Instant::now())) }
    }
}

pub async fn handle(_shop: &Shopify, _version: &str, _body: &[u8]) -> Response {
    Json(json!({"errors": [{"message": "not supported yet"}]})).into_response()
}
