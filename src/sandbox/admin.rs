//! Sandbox-wide admin and inspection routes (never rate-limited, never chaotic):
//!
//! - `GET /_sandbox/chaos`, `POST /_sandbox/chaos` (replace; JSON `ChaosConfig`, absent
//!   fields = 0/off), `DELETE /_sandbox/chaos` (all off)
//! - `GET /_sandbox/requests?recent=N` (request log), `DELETE /_sandbox/requests` or
//!   `POST /_sandbox/requests/reset` (clear it)
//! - `GET /_sandbox/state` (store counts and the CRMs' current records)
//! - `GET /_sandbox/health`

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::chaos::{Chaos, ChaosConfig};
use super::log::RequestLog;

/// Produces one platform's (or the whole sandbox's) state as JSON.
pub type StateFn = Arc<dyn Fn() -> Value + Send + Sync>;

/// What the admin routes look at. `state` gathers each platform's `state_json`.
#[derive(Clone)]
pub struct AdminState {
    pub chaos: Arc<Chaos>,
    pub log: Arc<RequestLog>,
    pub state: StateFn,
}

pub fn router(s: AdminState) -> Router {
    Router::new()
        .route(
            "/_sandbox/health",
            get(|| async { Json(json!({"ok": true})) }),
        )
        .route(
            "/_sandbox/chaos",
            get(get_chaos).post(set_chaos).delete(clear_chaos),
        )
        .route("/_sandbox/requests", get(requests).delete(reset_requests))
        .route("/_sandbox/requests/reset", post(reset_requests))
        .route("/_sandbox/state", get(state))
        .with_state(s)
}

async fn get_chaos(State(s): State<AdminState>) -> Json<ChaosConfig> {
    Json(s.chaos.config())
}

async fn set_chaos(State(s): State<AdminState>, raw: axum::body::Bytes) -> Response {
    let cfg: ChaosConfig = match serde_json::from_slice(&raw) {
        Ok(c) => c,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("invalid chaos config: {e}")})),
            )
                .into_response();
        }
    };
    match s.chaos.set(cfg) {
        Ok(()) => Json(s.chaos.config()).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

async fn clear_chaos(State(s): State<AdminState>) -> Json<ChaosConfig> {
    let _ = s.chaos.set(ChaosConfig::default());
    Json(s.chaos.config())
}

async fn requests(
    State(s): State<AdminState>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let recent = q.get("recent").and_then(|v| v.parse().ok()).unwrap_or(100);
    Json(s.log.to_json(recent))
}

async fn reset_requests(State(s): State<AdminState>) -> StatusCode {
    s.log.reset();
    StatusCode::NO_CONTENT
}

async fn state(State(s): State<AdminState>) -> Json<Value> {
    Json((s.state)())
}
