//! Shopify Admin API access: URLs, the access-token header, the leaky bucket read
//! from `X-Shopify-Shop-Api-Call-Limit`, GraphQL cost throttling, and `Link` header
//! cursor pagination (follow-up pages carry only `page_info` and `limit`).

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::extract::{ExtractError, Result};
use crate::http::{Api, Limit, Pacer, ResponseHooks};

/// Reads Shopify's rate-limit signals.
struct Hooks;

impl ResponseHooks for Hooks {
    fn observe(&self, headers: &HeaderMap, pacer: &Pacer) {
        // "used/size". The leak rate is not in the header; Shopify's plans pair bucket
        // sizes with leak rates of size/20 per second (40→2, 80→4, 400→20).
        let Some((used, size)) = headers
            .get("x-shopify-shop-api-call-limit")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once('/'))
            .and_then(|(u, s)| {
                Some((u.trim().parse::<f64>().ok()?, s.trim().parse::<f64>().ok()?))
            })
        else {
            return;
        };
        if size > 0.0 {
            pacer.set_limit(Limit::Bucket {
                capacity: size,
                per_second: size / 20.0,
            });
            pacer.observe_remaining(size - used);
        }
    }

    fn throttled_body(&self, _status: StatusCode, body: &[u8]) -> Option<Duration> {
        // GraphQL answers THROTTLED inside a 200; wait until the cost bucket has
        // refilled enough for the query.
        if !body.windows(9).any(|w| w == b"THROTTLED") {
            return None;
        }
        let v: Value = serde_json::from_slice(body).ok()?;
        let cost = v.pointer("/extensions/cost")?;
        let requested = cost
            .get("requestedQueryCost")
            .and_then(Value::as_f64)
            .unwrap_or(50.0);
        let status = cost.get("throttleStatus")?;
        let available = status
            .get("currentlyAvailable")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let rate = status
            .get("restoreRate")
            .and_then(Value::as_f64)
            .unwrap_or(50.0)
            .max(1.0);
        Some(Duration::from_secs_f64(
            ((requested - available).max(1.0)) / rate,
        ))
    }
}

/// A Shopify Admin API client for one shop.
#[derive(Debug, Clone)]
pub struct Client {
    api: Arc<Api>,
    base: String,
    version: String,
    token: crate::config::Secret,
    cost: Arc<super::cost::CostBudget>,
}

/// One REST page.
pub struct Page {
    /// The parsed body.
    pub body: Value,
    /// The `rel="next"` URL, if any.
    pub next: Option<String>,
}

impl Client {
    /// A client for `base` (`https://<shop>.myshopify.com` or the sandbox).
    pub fn new(
        who: String,
        base: String,
        version: String,
        token: crate::config::Secret,
    ) -> Result<Client> {
        let api = Api::new(who, token.var.clone(), Limit::Unlimited, Arc::new(Hooks))?;
        Ok(Client {
            api: Arc::new(api),
            base: base.trim_end_matches('/').to_string(),
            version,
            token,
            cost: Arc::default(),
        })
    }

    /// Adjust the API client before first use (tests shorten backoffs).
    pub fn with_api(self, f: impl FnOnce(Api) -> Api) -> Client {
        let Client {
            api,
            base,
            version,
            token,
            cost,
        } = self;
        let api = crate::http::reconfigure(api, f);
        Client {
            api,
            base,
            version,
            token,
            cost,
        }
    }

    /// The underlying API client (counters).
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// `https://host/admin/api/<version>/<resource>`.
    pub fn url(&self, resource: &str) -> String {
        format!("{}/admin/api/{}/{}", self.base, self.version, resource)
    }

    /// GET a REST URL (a first page with filters, or a `next` link as given).
    pub async fn get(&self, url: &str, query: &[(&str, String)]) -> Result<Page> {
        let reply = self
            .api
            .send(|c| {
                c.get(url)
                    .query(query)
                    .header("X-Shopify-Access-Token", self.token.expose())
                    .header("Accept", "application/json")
            })
            .await?;
        let next = reply
            .headers
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let body = crate::extract::parse_json(self.api.who(), &reply.body, &format!("GET {url}"))?;
        Ok(Page { body, next })
    }

    /// POST a GraphQL query; returns `data` or the first error.
    pub async fn graphql(&self, query: &str, variables: Value) -> Result<Value> {
        let url = self.url("graphql.json");
        let body = serde_json::json!({ "query": query, "variables": variables });
        let reservation = self.cost.acquire(query).await;
        let reply = self
            .api
            .send(|c| {
                c.post(&url)
                    .header("X-Shopify-Access-Token", self.token.expose())
                    .json(&body)
            })
            .await?;
        let v: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| self.protocol(format!("GraphQL answer is not JSON: {e}")))?;
        self.cost.observe(query, &v);
        drop(reservation);
        if let Some(err) = v.pointer("/errors/0/message").and_then(Value::as_str) {
            return Err(self.protocol(format!("GraphQL error: {err}")));
        }
        v.get("data")
            .cloned()
            .ok_or_else(|| self.protocol("GraphQL answer has no data".into()))
    }

    /// Download a URL given by Shopify (bulk results), without the token: those URLs
    /// are pre-signed and must not receive credentials.
    pub async fn download(&self, url: &str) -> Result<bytes::Bytes> {
        Ok(self.api.send(|c| c.get(url)).await?.body)
    }

    pub(crate) fn protocol(&self, detail: String) -> ExtractError {
        ExtractError::protocol(self.api.who(), detail)
    }
}

/// The `rel="next"` target of a Link header: `<url>; rel="next", <url>; rel="previous"`.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn call_limit_header_sets_the_bucket_and_what_is_left() {
        let pacer = Pacer::new(Limit::Unlimited);
        let mut h = HeaderMap::new();
        h.insert("x-shopify-shop-api-call-limit", "39/40".parse().unwrap());
        Hooks.observe(&h, &pacer);
        // One slot left: the first request goes at once, the next waits a leak (0.5 s).
        let start = tokio::time::Instant::now();
        pacer.acquire().await;
        assert!(start.elapsed() < std::time::Duration::from_millis(10));
        pacer.acquire().await;
        let waited = start.elapsed().as_secs_f64();
        assert!((0.45..0.6).contains(&waited), "{waited}");
    }

    #[test]
    fn graphql_throttled_body_waits_for_the_cost_bucket() {
        let body = br#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],
            "extensions":{"cost":{"requestedQueryCost":202,"actualQueryCost":null,
            "throttleStatus":{"maximumAvailable":2000.0,"currentlyAvailable":2,"restoreRate":100.0}}}}"#;
        let wait = Hooks.throttled_body(StatusCode::OK, body).unwrap();
        assert_eq!(wait, Duration::from_secs(2));
        assert!(
            Hooks
                .throttled_body(StatusCode::OK, br#"{"data":{}}"#)
                .is_none()
        );
    }

    #[test]
    fn link_header_next() {
        let h = r#"<https://s.myshopify.com/admin/api/2026-07/orders.json?limit=250&page_info=abc>; rel="previous", <https://s.myshopify.com/admin/api/2026-07/orders.json?limit=250&page_info=def>; rel="next""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://s.myshopify.com/admin/api/2026-07/orders.json?limit=250&page_info=def")
        );
        assert_eq!(
            next_link(r#"<https://x/y?page_info=a>; rel="previous""#),
            None
        );
    }
}
