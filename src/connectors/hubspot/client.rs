//! HubSpot API access: bearer token, and the rolling 10-second window read from
//! `X-HubSpot-RateLimit-Max` / `-Remaining` / `-Interval-Milliseconds`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::config::Secret;
use crate::extract::{ExtractError, Result};
use crate::http::{Api, HttpError, Limit, Pacer, Reply, ResponseHooks};

struct Hooks;

fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl ResponseHooks for Hooks {
    fn observe(&self, headers: &HeaderMap, pacer: &Pacer) {
        let (Some(max), Some(remaining)) = (
            header_f64(headers, "x-hubspot-ratelimit-max"),
            header_f64(headers, "x-hubspot-ratelimit-remaining"),
        ) else {
            return;
        };
        let window =
            header_f64(headers, "x-hubspot-ratelimit-interval-milliseconds").unwrap_or(10_000.0);
        if max >= 1.0 {
            pacer.set_limit(Limit::Window {
                max: max as u32,
                window: Duration::from_millis(window as u64),
            });
            pacer.observe_remaining(remaining);
        }
    }
}

/// A HubSpot client for one private-app token.
#[derive(Debug, Clone)]
pub struct Client {
    api: Arc<Api>,
    base: String,
    token: Secret,
}

impl Client {
    /// A client for `base` (`https://api.hubapi.com` or the sandbox). A configured
    /// `requests_per_10s` paces from the first request; otherwise headers teach it.
    pub fn new(
        who: String,
        base: String,
        token: Secret,
        requests_per_10s: Option<u32>,
    ) -> Result<Client> {
        let limit = requests_per_10s.map_or(Limit::Unlimited, |max| Limit::Window {
            max,
            window: Duration::from_secs(10),
        });
        let api = Api::new(who, token.var.clone(), limit, Arc::new(Hooks))?;
        Ok(Client {
            api: Arc::new(api),
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Adjust the API client before first use (tests shorten backoffs).
    pub fn with_api(self, f: impl FnOnce(Api) -> Api) -> Client {
        let Client { api, base, token } = self;
        let api = crate::http::reconfigure(api, f);
        Client { api, base, token }
    }

    /// The underlying API client (counters).
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// POST JSON to `path` (e.g. `/crm/v3/objects/contacts/search`).
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let reply = self
            .api
            .send(|c| c.post(&url).bearer_auth(self.token.expose()).json(body))
            .await?;
        crate::extract::parse_json(self.api.who(), &reply.body, &format!("POST {path}"))
    }

    /// POST JSON to `path` and return the raw reply: sinks read per-item errors
    /// from the error bodies themselves.
    pub async fn post_raw(&self, path: &str, body: &Value) -> Result<Reply, HttpError> {
        let url = format!("{}{path}", self.base);
        self.api
            .send(|c| c.post(&url).bearer_auth(self.token.expose()).json(body))
            .await
    }

    /// GET `path` with `query`.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let reply = self
            .api
            .send(|c| c.get(&url).query(query).bearer_auth(self.token.expose()))
            .await?;
        crate::extract::parse_json(self.api.who(), &reply.body, &format!("GET {path}"))
    }

    pub(crate) fn protocol(&self, detail: String) -> ExtractError {
        ExtractError::protocol(self.api.who(), detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rate_limit_headers_set_a_rolling_window() {
        let pacer = Pacer::new(Limit::Unlimited);
        let mut h = HeaderMap::new();
        h.insert("x-hubspot-ratelimit-max", "100".parse().unwrap());
        h.insert("x-hubspot-ratelimit-remaining", "1".parse().unwrap());
        h.insert(
            "x-hubspot-ratelimit-interval-milliseconds",
            "10000".parse().unwrap(),
        );
        Hooks.observe(&h, &pacer);
        let start = tokio::time::Instant::now();
        pacer.acquire().await;
        assert!(start.elapsed() < Duration::from_millis(10));
        // The window is full now: the next request waits for it to roll.
        pacer.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_secs(9),
            "{:?}",
            start.elapsed()
        );
    }
}
