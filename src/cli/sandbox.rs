//! `lockstep sandbox`: run the platform emulators on 127.0.0.1 until interrupted.
//! Prints the base URL, the credentials, the environment to export and a
//! ready-to-paste lockstep.toml fragment (or all of it as one JSON line with --json).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use crate::sandbox::chaos::ChaosConfig;
use crate::sandbox::generator::GeneratorConfig;
use crate::sandbox::shopify::graphql::CostConfig;
use crate::sandbox::shopify::rate_limit::BucketConfig;
use crate::sandbox::{Sandbox, SandboxConfig, SandboxHandle, hubspot, klaviyo, server};

/// Arguments of `lockstep sandbox`.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Seed of the generated store (same seed → identical data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Customers to generate.
    #[arg(long, default_value_t = 1_000)]
    pub customers: usize,
    /// Orders to generate.
    #[arg(long, default_value_t = 5_000)]
    pub orders: usize,
    /// Port on 127.0.0.1 for all platforms (0 = any free port).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Serve this JSON Lines export of REST customers and orders instead of generating.
    #[arg(long, value_name = "FILE")]
    pub load: Option<PathBuf>,
    /// Print the connection details as one JSON line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub credentials: Box<CredentialArgs>,
    #[command(flatten)]
    pub limits: Box<LimitArgs>,
    #[command(flatten)]
    pub chaos: Box<ChaosArgs>,
}

/// Credentials the sandbox accepts (documented defaults).
#[derive(Debug, clap::Args)]
pub struct CredentialArgs {
    /// Shop handle (<shop>.myshopify.com).
    #[arg(long, default_value = server::DEFAULT_SHOP)]
    pub shop: String,
    /// Shopify Admin API access token the sandbox accepts.
    #[arg(long, default_value = "shpat_lockstep_sandbox")]
    pub shopify_token: String,
    /// Shopify app secret that signs webhooks.
    #[arg(long, default_value = "lockstep-sandbox-webhook-secret")]
    pub shopify_secret: String,
    /// HubSpot private-app token the sandbox accepts.
    #[arg(long, default_value = hubspot::DEFAULT_TOKEN)]
    pub hubspot_token: String,
    /// HubSpot app client secret that signs its webhooks.
    #[arg(long, default_value = hubspot::DEFAULT_CLIENT_SECRET)]
    pub hubspot_client_secret: String,
    /// Klaviyo private API key the sandbox accepts.
    #[arg(long, default_value = klaviyo::DEFAULT_API_KEY)]
    pub klaviyo_api_key: String,
}

/// Rate limits and timings.
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// Shopify REST leaky bucket size.
    #[arg(long, default_value_t = 40)]
    pub rest_bucket: u32,
    /// Shopify REST leak rate, requests per second.
    #[arg(long, default_value_t = 2.0)]
    pub rest_leak: f64,
    /// Shopify GraphQL cost bucket size (maximumAvailable).
    #[arg(long, default_value_t = 2000.0)]
    pub graphql_max: f64,
    /// Shopify GraphQL restore rate, points per second.
    #[arg(long, default_value_t = 100.0)]
    pub graphql_restore: f64,
    /// HubSpot ten-second rolling limit.
    #[arg(long, default_value_t = 100)]
    pub hubspot_per_10s: u32,
    /// Switch every rate limit off.
    #[arg(long)]
    pub no_rate_limits: bool,
    /// First retry delay of a failed Shopify webhook, ms (doubles per try, 8 tries).
    #[arg(long, default_value_t = 60_000)]
    pub webhook_retry_base_ms: u64,
}

/// Faults to inject (also settable at run time with `POST /_sandbox/chaos`).
#[derive(Debug, clap::Args)]
pub struct ChaosArgs {
    /// Share of platform requests answered 429.
    #[arg(long, default_value_t = 0.0)]
    pub chaos_429: f64,
    /// Share answered 500.
    #[arg(long, default_value_t = 0.0)]
    pub chaos_500: f64,
    /// Share answered 502.
    #[arg(long, default_value_t = 0.0)]
    pub chaos_502: f64,
    /// Share answered 503.
    #[arg(long, default_value_t = 0.0)]
    pub chaos_503: f64,
    /// Share that hang for --chaos-timeout-secs, then get 504.
    #[arg(long, default_value_t = 0.0)]
    pub chaos_timeout: f64,
    /// How long a hung request hangs, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub chaos_timeout_secs: f64,
    /// Latency added to every platform response, ms.
    #[arg(long, default_value_t = 0)]
    pub chaos_latency_ms: u64,
    /// Answer every platform request 401, as if the token had expired.
    #[arg(long)]
    pub chaos_token_expired: bool,
    /// Share of webhooks dropped.
    #[arg(long, default_value_t = 0.0)]
    pub chaos_webhook_drop: f64,
    /// Share of webhooks delivered twice.
    #[arg(long, default_value_t = 0.0)]
    pub chaos_webhook_duplicate: f64,
    /// Share of webhooks overtaken by the next one.
    #[arg(long, default_value_t = 0.0)]
    pub chaos_webhook_reorder: f64,
    /// Delay before each webhook delivery, ms.
    #[arg(long, default_value_t = 0)]
    pub chaos_webhook_delay_ms: u64,
    /// Seed of the chaos draws.
    #[arg(long, default_value_t = 0)]
    pub chaos_seed: u64,
}

fn config(a: &SandboxArgs) -> anyhow::Result<SandboxConfig> {
    let mut cfg = SandboxConfig {
        port: a.port,
        load: a.load.clone(),
        ..SandboxConfig::default()
    };
    cfg.generator = GeneratorConfig {
        seed: a.seed,
        customers: a.customers,
        orders: a.orders,
        shop: a.credentials.shop.clone(),
        ..GeneratorConfig::default()
    };
    cfg.shopify.access_token = a.credentials.shopify_token.clone();
    cfg.shopify.api_secret = a.credentials.shopify_secret.clone();
    cfg.shopify.bucket = BucketConfig {
        size: a.limits.rest_bucket,
        leak_per_sec: a.limits.rest_leak,
    };
    cfg.shopify.graphql = CostConfig {
        maximum_available: a.limits.graphql_max,
        restore_rate: a.limits.graphql_restore,
        ..CostConfig::default()
    };
    cfg.shopify.webhook_retry_base = Duration::from_millis(a.limits.webhook_retry_base_ms);
    cfg.hubspot.token = a.credentials.hubspot_token.clone();
    cfg.hubspot.client_secret = a.credentials.hubspot_client_secret.clone();
    cfg.hubspot.requests_per_10s = a.limits.hubspot_per_10s;
    cfg.klaviyo.api_key = a.credentials.klaviyo_api_key.clone();
    if a.limits.no_rate_limits {
        cfg.shopify.bucket = BucketConfig {
            size: 0,
            leak_per_sec: 0.0,
        };
        cfg.shopify.graphql.maximum_available = f64::MAX / 4.0;
        cfg.hubspot.requests_per_10s = 0;
        cfg.klaviyo.burst_scale = 0.0;
        cfg.klaviyo.steady_scale = 0.0;
    }
    cfg.chaos = ChaosConfig {
        error_429: a.chaos.chaos_429,
        error_500: a.chaos.chaos_500,
        error_502: a.chaos.chaos_502,
        error_503: a.chaos.chaos_503,
        timeout_rate: a.chaos.chaos_timeout,
        timeout_secs: a.chaos.chaos_timeout_secs,
        latency_ms: a.chaos.chaos_latency_ms,
        token_expired: a.chaos.chaos_token_expired,
        webhook_drop: a.chaos.chaos_webhook_drop,
        webhook_duplicate: a.chaos.chaos_webhook_duplicate,
        webhook_reorder: a.chaos.chaos_webhook_reorder,
        webhook_delay_ms: a.chaos.chaos_webhook_delay_ms,
        seed: a.chaos.chaos_seed,
    };
    cfg.chaos
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid chaos flags: {e}"))?;
    Ok(cfg)
}

/// The lockstep.toml fragment pointing at this sandbox.
pub fn toml_fragment(base_url: &str, shop: &str) -> String {
    format!(
        r#"[sources.shopify]
kind = "shopify"
base_url = "{base_url}"
shop = "{shop}"
access_token = "${{SHOPIFY_ACCESS_TOKEN}}"

[destinations.hubspot]
kind = "hubspot"
base_url = "{base_url}"
token = "${{HUBSPOT_TOKEN}}"

[destinations.klaviyo]
kind = "klaviyo"
base_url = "{base_url}"
api_key = "${{KLAVIYO_API_KEY}}"
"#
    )
}

fn print(sb: &SandboxHandle, args: &SandboxArgs) {
    let c = &sb.credentials;
    let store = sb.shopify.state_json();
    let env = [
        ("SHOPIFY_ACCESS_TOKEN", c.shopify_access_token.as_str()),
        ("SHOPIFY_API_SECRET", c.shopify_api_secret.as_str()),
        ("HUBSPOT_TOKEN", c.hubspot_token.as_str()),
        ("HUBSPOT_CLIENT_SECRET", c.hubspot_client_secret.as_str()),
        ("KLAVIYO_API_KEY", c.klaviyo_api_key.as_str()),
    ];
    let toml = toml_fragment(&sb.base_url, &c.shop);
    if args.json {
        let env: serde_json::Map<String, serde_json::Value> =
            env.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        println!(
            "{}",
            json!({"base_url": sb.base_url, "credentials": c, "env": env, "lockstep_toml": toml, "store": store})
        );
        return;
    }
    let source = match &args.load {
        Some(p) => format!("loaded from {}", p.display()),
        None => format!("generated with seed {}", args.seed),
    };
    println!("lockstep sandbox listening on {}", sb.base_url);
    println!(
        "  store    {} customers, {} orders ({source})",
        store["customers"], store["orders"]
    );
    println!(
        "  shopify  {}/admin/api/2026-07/…  shop {}.myshopify.com",
        sb.base_url, c.shop
    );
    println!("  hubspot  {}/crm/v3/…", sb.base_url);
    println!("  klaviyo  {}/api/…", sb.base_url);
    println!(
        "  admin    {}/_sandbox/state | /_sandbox/requests | /_sandbox/chaos",
        sb.base_url
    );
    println!();
    println!("# credentials");
    for (k, v) in env {
        println!("export {k}={v}");
    }
    println!();
    println!("# lockstep.toml");
    print!("{toml}");
    println!();
    println!("Ctrl-C to stop.");
}

async fn interrupted() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Run the sandbox until interrupted.
pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let cfg = config(&args)?;
    if args.load.is_none() && args.orders >= 200_000 && !args.json {
        eprintln!(
            "generating {} customers and {} orders…",
            args.customers, args.orders
        );
    }
    let sb = Sandbox::start(cfg)
        .await
        .context("cannot start the sandbox")?;
    print(&sb, &args);
    interrupted().await;
    sb.shutdown().await;
    Ok(())
}
