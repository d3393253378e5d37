//! Klaviyo API access: `Authorization: Klaviyo-API-Key`, the mandatory `revision`
//! header, JSON:API media types, and the steady-window limit read from
//! `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::config::Secret;
use crate::extract::{ExtractError, Result};
use crate::http::{Api, HttpError, Limit, Pacer, Reply, ResponseHooks};

/// API revision lockstep is written against.
pub const REVISION: &str = "2026-07-15";
const JSON_API: &str = "application/vnd.api+json";

struct Hooks;

fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl ResponseHooks for Hooks {
    fn observe(&self, headers: &HeaderMap, pacer: &Pacer) {
        // The headers describe the steady (one-minute) window.
        let (Some(limit), Some(remaining)) = (
            header_f64(headers, "ratelimit-limit"),
            header_f64(headers, "ratelimit-remaining"),
        ) else {
            return;
        };
        if limit >= 1.0 {
            pacer.set_limit(Limit::Window {
                max: limit as u32,
                window: Duration::from_secs(60),
            });
            pacer.observe_remaining(remaining);
        }
    }
}

/// A Klaviyo client for one private API key.
#[derive(Debug, Clone)]
pub struct Client {
    api: Arc<Api>,
    base: String,
    key: Secret,
    revision: String,
}

impl Client {
    /// A client for `base` (`https://a.klaviyo.com` or the sandbox).
    pub fn new(who: String, base: String, key: Secret, revision: String) -> Result<Client> {
        let api = Api::new(who, key.var.clone(), Limit::Unlimited, Arc::new(Hooks))?;
        Ok(Client {
            api: Arc::new(api),
            base: base.trim_end_matches('/').to_string(),
            key,
            revision,
        })
    }

    /// Adjust the API client before first use (tests shorten backoffs).
    pub fn with_api(self, f: impl FnOnce(Api) -> Api) -> Client {
        let Client {
            api,
            base,
            key,
            revision,
        } = self;
        let api = crate::http::reconfigure(api, f);
        Client {
            api,
            base,
            key,
            revision,
        }
    }

    /// The underlying API client (counters).
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The API host.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// GET a path or a full `links.next` URL.
    pub async fn get(&self, path_or_url: &str, query: &[(&str, String)]) -> Result<Value> {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        let reply = self
            .api
            .send(|c| {
                c.get(&url)
                    .query(query)
                    .header(
                        "Authorization",
                        format!("Klaviyo-API-Key {}", self.key.expose()),
                    )
                    .header("revision", &self.revision)
                    .header("Accept", JSON_API)
            })
            .await?;
        crate::extract::parse_json(self.api.who(), &reply.body, &format!("GET {url}"))
    }

    /// Send a JSON:API document to `path` with `method`; the raw reply, so sinks can
    /// read Klaviyo's error bodies.
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, HttpError> {
        let url = format!("{}{path}", self.base);
        self.api
            .send(|c| {
                let request = c
                    .request(method.clone(), &url)
                    .header(
                        "Authorization",
                        format!("Klaviyo-API-Key {}", self.key.expose()),
                    )
                    .header("revision", &self.revision)
                    .header("Accept", JSON_API);
                match body {
                    Some(b) => request.header("Content-Type", JSON_API).body(b.to_string()),
                    None => request,
                }
            })
            .await
    }

    pub(crate) fn protocol(&self, detail: String) -> ExtractError {
        ExtractError::protocol(self.api.who(), detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ratelimit_headers_set_the_steady_window() {
        let pacer = Pacer::new(Limit::Unlimited);
        let mut h = HeaderMap::new();
        h.insert("ratelimit-limit", "700".parse().unwrap());
        h.insert("ratelimit-remaining", "0".parse().unwrap());
        Hooks.observe(&h, &pacer);
        let start = tokio::time::Instant::now();
        pacer.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_secs(59),
            "{:?}",
            start.elapsed()
        );
    }
}
