//! Starting the sandbox: build (or load) the store, bind 127.0.0.1, and serve every
//! platform on one port — Shopify on `/admin/api/...`, HubSpot on `/crm/...`, Klaviyo
//! on `/api/...` — plus the admin routes on `/_sandbox/...`. Platform routes pass
//! through the request log and the chaos layer; admin routes pass through neither.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::admin::{self, AdminState, StateFn};
use super::chaos::{Chaos, ChaosConfig, Fault};
use super::generator::{self, GeneratorConfig};
use super::hubspot::{HubSpot, HubSpotOptions};
use super::klaviyo::{Klaviyo, KlaviyoOptions};
use super::load::{self, LoadError};
use super::log::{self, RequestLog};
use super::seed::{SeedContact, SeedProfile};
use super::shopify::errors::ApiError;
use super::shopify::{Shopify, ShopifyOptions};

/// Documented default credentials (overridable by flags). The CRM defaults are
/// their emulators' own: `hubspot::DEFAULT_TOKEN`, `hubspot::DEFAULT_CLIENT_SECRET`,
/// `klaviyo::DEFAULT_API_KEY`.
pub const DEFAULT_SHOP: &str = "lockstep-sandbox";

/// Everything `Sandbox::start` needs.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// 0 = an ephemeral port.
    pub port: u16,
    pub generator: GeneratorConfig,
    /// Serve this JSONL export instead of a generated store.
    pub load: Option<PathBuf>,
    pub shopify: ShopifyOptions,
    pub hubspot: HubSpotOptions,
    pub klaviyo: KlaviyoOptions,
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
            hubspot: HubSpotOptions::default(),
            klaviyo: KlaviyoOptions::default(),
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
    #[error(
        "cannot listen on 127.0.0.1:{port}: {source} (is another process using it? try --port 0)"
    )]
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
    pub hubspot: Arc<HubSpot>,
    pub klaviyo: Arc<Klaviyo>,
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
            Ok(Data {
                store,
                stream: None,
                contacts: Vec::new(),
                profiles: Vec::new(),
            })
        }
        None => {
            let g = generator::generate(&cfg.generator);
            Ok(Data {
                store: g.store,
                stream: Some(generator::stream(&cfg.generator)),
                contacts: g.contacts,
                profiles: g.profiles,
            })
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
    let retry_after = (status == StatusCode::TOO_MANY_REQUESTS).then_some(1.0);
    match log::platform(path) {
        "shopify" => ApiError::injected(status),
        "hubspot" => HubSpot::chaos_response(status, retry_after),
        "klaviyo" => Klaviyo::chaos_response(status, retry_after),
        _ => (
            status,
            Json(json!({"errors": status.canonical_reason().unwrap_or("error")})),
        )
            .into_response(),
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
    st.log.record(
        &method,
        &path,
        query.as_deref(),
        resp.status().as_u16(),
        millis,
        injected,
    );
    resp
}

impl Sandbox {
    /// Build the store, bind 127.0.0.1:`port` and serve until `shutdown`.
    pub async fn start(cfg: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
        let listener = TcpListener::bind(("127.0.0.1", cfg.port))
            .await
            .map_err(|source| SandboxError::Bind {
                port: cfg.port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            port: cfg.port,
            source,
        })?;
        let base_url = format!("http://{addr}");
        let build_cfg = cfg.clone();
        let data = tokio::task::spawn_blocking(move || build_data(&build_cfg))
            .await
            .map_err(|e| SandboxError::Generate(e.to_string()))??;
        let shop_name = data.store.shop.name.clone();
        let chaos = Arc::new(Chaos::new(cfg.chaos.clone()));
        let log = Arc::new(RequestLog::new(cfg.request_log_capacity));
        let shopify = Shopify::new(
            cfg.shopify.clone(),
            base_url.clone(),
            data.store,
            data.stream,
            chaos.clone(),
        );
        let (seed_contacts, seed_profiles) = (data.contacts.len(), data.profiles.len());

        let mut platforms = shopify.router();
        let admin_routes = shopify.admin_router();
        let mut states: Vec<(&'static str, StateFn)> = Vec::new();
        let s = shopify.clone();
        states.push(("shopify", Arc::new(move || s.state_json())));
        // CRM emulators: one block each. Their routers carry both their platform
        // paths and their own admin routes under /_sandbox/<platform>/.
        let hubspot = HubSpot::new(cfg.hubspot.clone(), data.contacts);
        platforms = platforms.merge(hubspot.router());
        let h = hubspot.clone();
        states.push(("hubspot", Arc::new(move || h.state_json())));
        let klaviyo = Klaviyo::new(cfg.klaviyo.clone(), data.profiles);
        platforms = platforms.merge(klaviyo.router());
        let k = klaviyo.clone();
        states.push(("klaviyo", Arc::new(move || k.state_json())));

        let state_fn: StateFn = Arc::new(move || {
            Value::Object(states.iter().map(|(k, f)| (k.to_string(), f())).collect())
        });
        let layer = LayerState {
            chaos: chaos.clone(),
            log: log.clone(),
        };
        let app = platforms
            .merge(admin_routes)
            .merge(admin::router(AdminState {
                chaos: chaos.clone(),
                log: log.clone(),
                state: state_fn,
            }))
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
        Ok(SandboxHandle {
            base_url,
            addr,
            credentials,
            shopify,
            hubspot,
            klaviyo,
            chaos,
            log,
            seed_contacts,
            seed_profiles,
            stop: Some(tx),
            task,
        })
    }
}
