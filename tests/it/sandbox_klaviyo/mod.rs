//! Klaviyo emulator over real HTTP with a plain client: revision and auth,
//! profile-import 201/200 and patch semantics, validation errors, event dedupe,
//! bulk import jobs, cursor pagination with filters, and throttling.

use std::collections::BTreeSet;
use std::time::Duration;

use lockstep::sandbox::klaviyo::{Klaviyo, KlaviyoOptions};
use lockstep::sandbox::seed::SeedProfile;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support;

mod events;
mod profiles;
mod protocol;

const KEY: &str = "pk_sandbox_klaviyo_key";
const REVISION: &str = "2024-10-15";

struct Api {
    base: String,
    c: reqwest::Client,
}

impl Api {
    async fn start(opts: KlaviyoOptions, seed: Vec<SeedProfile>) -> Self {
        let k = Klaviyo::new(opts, seed);
        Self {
            base: support::serve(k.router()).await,
            c: reqwest::Client::new(),
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.c
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("Klaviyo-API-Key {KEY}"))
            .header("revision", REVISION)
            .header("Accept", "application/vnd.api+json")
    }

    fn absolute(&self, url: &str) -> reqwest::RequestBuilder {
        self.c
            .get(url)
            .header("Authorization", format!("Klaviyo-API-Key {KEY}"))
            .header("revision", REVISION)
    }

    async fn send(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let r = rb.send().await.expect("send");
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let rb = self
            .req(Method::POST, path)
            .header("Content-Type", "application/vnd.api+json")
            .body(body.to_string());
        let (s, _, v) = self.send(rb).await;
        (s, v)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.send(self.req(Method::GET, path)).await;
        (s, v)
    }
}

fn no_limits() -> KlaviyoOptions {
    KlaviyoOptions {
        burst_scale: 0.0,
        steady_scale: 0.0,
        bulk_job_step_ms: 20,
        ..KlaviyoOptions::default()
    }
}

fn profile(attrs: Value) -> Value {
    json!({"data": {"type": "profile", "attributes": attrs}})
}

fn seed(n: usize) -> Vec<SeedProfile> {
    (0..n)
        .map(|i| SeedProfile {
            email: Some(format!("seed{i}@example.com")),
            first_name: Some(format!("S{i}")),
            ..SeedProfile::default()
        })
        .collect()
}
