//! Starting the sandbox: build (or load) the store, bind 127.0.0.1, and serve every
//! platform on one port — Shopify on `/admin/api/...`, HubSpot on `/crm/...`, Klaviyo
//! on `/api/...` — plus the admin routes on `/_sandbox/...`. Platform routes pass
//! through the request log and the chaos layer; admin routes pass through neither.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::admin::{self, AdminState};
use super::chaos::{Chaos, ChaosConfig, Fault};
use super::generator::{self, GeneratorConfig};
use super::load::{self, LoadError};
use super::log::{self, RequestLog};
use super::seed::{SeedContact, SeedProfile};
use super::shopify::errors::ApiError;
use super::shopify::{Shopify, ShopifyOptions};

/// Documented default credentials (overridable by flags).
pub const DEFAULT_SHOP: &str = "lockstep-sandbox";
pub const DEFAULT_HUBSPOT_TOKEN: &str = "pat-na1-lockstep-sandbox";
pub const DEFAULT_HUBSPOT_CLIENT_SECRET: &str = "lockstep-sandbox-hubspot-secret";
pub const DEFAULT_KLAVIYO_API_KEY: &str = "pk_lockstep_sandbox";

/// HubSpot knobs handed to its emulator.
#[derive(Clone, Debug, PartialEq)]
pub struct HubSpotSettings {
    pub token: String,
    pub client_secret: String,
    /// 0 = no limit.
    pub requests_per_10s: u32,
    pub webhook_url: Option<String>,
}

/// Klaviyo knobs handed to its emulator.
#[derive(Clone, Debug, PartialEq)]
pub struct KlaviyoSettings {
    pub api_key: String,
    /// 0 = no limit.
    pub burst_per_sec: u32,
    /// 0 = no limit.
    pub steady_per_min: u32,
}

/// Everything `Sandbox::start` needs.
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxConfig {
    /// 0 = an ephemeral port.
    pub port: u16,
    pub generator: GeneratorConfig,
    /// Serve this JSONL export instead of a generated store.
    pub load: Option<PathBuf>,
    pub shopify: ShopifyOptions,
    pub hubspot: HubSpotSettings,
    pub klaviyo: KlaviyoSettings,
    pub chaos: ChaosConfig,
    /// Entries kept in the request log's ring buffer.
    pub request_log_capacity: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            generator: GeneratorConfig::default(),
            load: None,
            shopify: ShopifyOptions::default(),
            hubspot: HubSpotSettings {
                token: DEFAULT_HUBSPOT_TOKEN.into(),
                client_secret: DEFAULT_HUBSPOT_CLIENT_SECRET.into(),
                requests_per_10s: 100,
                webhook_url: None,
            },
            klaviyo: KlaviyoSettings { api_key: DEFAULT_KLAVIYO_API_KEY.into(), burst_per_sec: 75, steady_per_min: 700 },
            chaos: ChaosConfig::default(),
            request_log_capacity: 1000,
        }
    }
}

/// Credentials clients use against this sandbox.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Credentials {
    pub shop: String,
    pub shopify_access_token: String,
    pub shopify_api_secret: String,
    pub hubspot_token: String,
    pub hubspot_client_secret: String,
    pub klaviyo_api_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on 127.0.0.1:{port}: {source} (is another process using it? try --port 0)")]
    Bind { port: u16, source: std::io::Error },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("store generation failed: {0}")]
    Generate(String),
}

/// A running sandbox. Dropping it without `shutdown` leaves the server running until
/// the runtime ends.
pub struct SandboxHandle {
    pub base_url: String,
    pub addr: SocketAddr,
    pub credentials: Credentials,
    pub shopify: Arc<Shopify>,
    pub chaos: Arc<Chaos>,
    pub log: Arc<RequestLog>,
    /// CRM seeds as generated (what the CRM emulators started with).
    pub seed_contacts: usize,
    pub seed_profiles: usize,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl SandboxHandle {
    /// Stop serving and wait for the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// The sandbox entry point.
pub struct Sandbox;

struct Data {
    store: super::shopify::model::StoreData,
    stream: Option<generator::Stream>,
    contacts: Vec<SeedContact>,
    profiles: Vec<SeedProfile>,
}

fn build_data(cfg: &SandboxConfig) -> Result<Data, SandboxError> {
    match &cfg.load {
        Some(path) => {
            let store = load::load_jsonl(path, &cfg.generator.shop)?;
            Ok(Data { store, stream: None, contacts: Vec::new(), profiles: Vec::new() })
        }
        None => {
            let g = generator::generate(&cfg.generator);
            Ok(Data { store: g.store, stream: Some(generator::stream(&cfg.generator)), contacts: g.contacts, profiles: g.profiles })
        }
    }
}

#[derive(Clone)]
struct LayerState {
    chaos: Arc<Chaos>,
    log: Arc<RequestLog>,
}

/// A platform-shaped error for an injected fault.
fn injected_response(path: &str, status: StatusCode) -> Response {
    match log::platform(path) {
        "shopify" => ApiError::injected(status),
        // Replaced by HubSpot::chaos_response / Klaviyo::chaos_response when wired.
        _ => (status, Json(json!({"status": "error", "message": status.canonical_reason().unwrap_or("error")}))).into_response(),
    }
}

async fn platform_layer(State(st): State<LayerState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/_sandbox") {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let query = req.uri().query().map(String::from);
    let started = Instant::now();
    let (resp, injected) = match st.chaos.request() {
        Fault::Pass(latency) => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            (next.run(req).await, false)
        }
        Fault::Status(status, latency) => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            (injected_response(&path, status), true)
        }
        Fault::Hang(d) => {
            tokio::time::sleep(d).await;
            (injected_response(&path, StatusCode::GATEWAY_TIMEOUT), true)
        }
    };
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    st.log.record(&method, &path, query.as_deref(), resp.status().as_u16(), millis, injected);
    resp
}

impl Sandbox {
    /// Build the store, bind 127.0.0.1:`port` and serve until `shutdown`.
    pub async fn start(cfg: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
        let listener = TcpListener::bind(("127.0.0.1", cfg.port))
            .await
            .map_err(|source| SandboxError::Bind { port: cfg.port, source })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind { port: cfg.port, source })?;
        let base_url = format!("http://{addr}");
        let build_cfg = cfg.clone();
        let data = tokio::task::spawn_blocking(move || build_data(&build_cfg))
            .await
            .map_err(|e| SandboxError::Generate(e.to_string()))??;
        let shop_name = data.store.shop.name.clone();
        let chaos = Arc::new(Chaos::new(cfg.chaos.clone()));
        let log = Arc::new(RequestLog::new(cfg.request_log_capacity));
        let shopify = Shopify::new(cfg.shopify.clone(), base_url.clone(), data.store, data.stream, chaos.clone());
        let (seed_contacts, seed_profiles) = (data.contacts.len(), data.profiles.len());

        let mut platforms = shopify.router();
        let mut admin_routes = shopify.admin_router();
        let mut states: Vec<(&'static str, Arc<dyn Fn() -> Value + Send + Sync>)> = Vec::new();
        let s = shopify.clone();
        states.push(("shopify", Arc::new(move || s.state_json())));
        // CRM emulators: one block each (router, state); their admin routes live in
        // their own routers under /_sandbox/<platform>/.
        let _ = (&cfg.hubspot, &cfg.klaviyo, data.contacts, data.profiles);
        platforms = platforms.merge(Router::new());
        admin_routes = admin_routes.merge(Router::new());

        let state_fn: Arc<dyn Fn() -> Value + Send + Sync> = Arc::new(move || {
            Value::Object(states.iter().map(|(k, f)| (k.to_string(), f())).collect())
        });
        let layer = LayerState { chaos: chaos.clone(), log: log.clone() };
        let app = platforms
            .merge(admin_routes)
            .merge(admin::router(AdminState { chaos: chaos.clone(), log: log.clone(), state: state_fn }))
            .layer(axum::middleware::from_fn_with_state(layer, platform_layer));

        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("sandbox server stopped: {e}");
            }
        });
        let credentials = Credentials {
            shop: shop_name,
            shopify_access_token: cfg.shopify.access_token.clone(),
            shopify_api_secret: cfg.shopify.api_secret.clone(),
            hubspot_token: cfg.hubspot.token.clone(),
            hubspot_client_secret: cfg.hubspot.client_secret.clone(),
            klaviyo_api_key: cfg.klaviyo.api_key.clone(),
        };
        Ok(SandboxHandle { base_url, addr, credentials, shopify, chaos, log, seed_contacts, seed_profiles, stop: Some(tx), task })
    }
}
