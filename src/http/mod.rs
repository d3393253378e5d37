//! Platform-agnostic HTTP machinery shared by extractors and sinks: one `Api` per
//! credential, which paces requests (`pacer`), retries what is worth retrying
//! (`retry`) and turns failures into errors that name the platform. Connectors
//! supply the platform's knowledge through `ResponseHooks` (which headers carry the
//! rate limit, which 200 bodies mean "throttled").

pub mod pacer;
pub mod retry;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};

pub use pacer::{Limit, Pacer};
pub use retry::RetryPolicy;

/// Platform knowledge the generic client needs.
pub trait ResponseHooks: Send + Sync {
    /// Read rate-limit headers of any response into the pacer.
    fn observe(&self, headers: &HeaderMap, pacer: &Pacer);
    /// A response that is nominally successful but says "throttled" (Shopify GraphQL
    /// answers THROTTLED with 200): how long to wait before retrying.
    fn throttled_body(&self, _status: StatusCode, _body: &[u8]) -> Option<Duration> {
        None
    }
}

/// A platform call that failed for good.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// 401/403: credentials are wrong or lack scopes. Retrying cannot help.
    #[error("{who}: {status} — the credentials were rejected ({detail}); check {credential}")]
    Auth {
        /// Platform and config name.
        who: String,
        /// HTTP status.
        status: StatusCode,
        /// The platform's message.
        detail: String,
        /// Where the credential comes from (an environment variable).
        credential: String,
    },
    /// A non-retryable error status.
    #[error("{}: {} {} answered {}: {}", .0.who, .0.method, .0.path, .0.status, .0.detail)]
    Status(Box<StatusError>),
    /// Retries exhausted.
    #[error("{who}: gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// Platform and config name.
        who: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The request could not be built.
    #[error("{who}: invalid request: {detail}")]
    Request {
        /// Platform and config name.
        who: String,
        /// What is wrong.
        detail: String,
    },
}

/// Details of a non-retryable error status.
#[derive(Debug)]
pub struct StatusError {
    /// Platform and config name.
    pub who: String,
    /// Method.
    pub method: String,
    /// Path (no query string, which may carry identifiers).
    pub path: String,
    /// HTTP status.
    pub status: StatusCode,
    /// The platform's message, truncated.
    pub detail: String,
    /// Full body, for callers that parse per-item errors.
    pub body: Bytes,
}

/// Counters of what a client actually did (reports, tests).
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests sent, retries included.
    pub requests: AtomicU64,
    /// 429 answers received.
    pub throttled: AtomicU64,
    /// Retries made (any cause).
    pub retries: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Requests sent.
    pub requests: u64,
    /// 429s received.
    pub throttled: u64,
    /// Retries made.
    pub retries: u64,
}

impl Stats {
    /// The counters now.
    pub fn snapshot(&self) -> Counters {
        Counters {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}

/// Apply `f` to a client that has not been shared yet (builders of connector clients
/// use it to let tests shorten backoffs); a shared one is returned unchanged.
pub fn reconfigure(api: Arc<Api>, f: impl FnOnce(Api) -> Api) -> Arc<Api> {
    match Arc::try_unwrap(api) {
        Ok(api) => Arc::new(f(api)),
        Err(shared) => shared,
    }
}

/// A reply with a success status.
#[derive(Debug)]
pub struct Reply {
    /// Status (2xx).
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// One credential's paced, retrying client.
pub struct Api {
    who: String,
    credential: String,
    client: reqwest::Client,
    pacer: Arc<Pacer>,
    policy: RetryPolicy,
    hooks: Arc<dyn ResponseHooks>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("who", &self.who)
            .finish_non_exhaustive()
    }
}

/// Per-request timeout: long enough for a 250-order page, short enough that a hung
/// connection is retried rather than waited on forever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Api {
    /// A client for `who` (e.g. "shopify source 'shop'") whose credential comes from
    /// `credential` (named in auth errors, never its value).
    pub fn new(
        who: impl Into<String>,
        credential: impl Into<String>,
        limit: Limit,
        hooks: Arc<dyn ResponseHooks>,
    ) -> Result<Api, HttpError> {
        let who = who.into();
        let client = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("lockstep/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Request {
                who: who.clone(),
                detail: e.to_string(),
            })?;
        Ok(Api {
            who,
            credential: credential.into(),
            client,
            pacer: Arc::new(Pacer::new(limit)),
            policy: RetryPolicy::default(),
            hooks,
            stats: Arc::new(Stats::default()),
        })
    }

    /// Replace the retry policy (tests use short backoffs).
    pub fn with_policy(mut self, policy: RetryPolicy) -> Api {
        self.policy = policy;
        self
    }

    /// Replace the per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Api, HttpError> {
        self.client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("lockstep/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Request {
                who: self.who.clone(),
                detail: e.to_string(),
            })?;
        Ok(self)
    }

    /// Who this client speaks for, for messages.
    pub fn who(&self) -> &str {
        &self.who
    }

    /// The pacer (connectors adjust limits from what they learn).
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// What this client did so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Send the request `build` makes (called once per attempt), pacing and retrying.
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Reply, HttpError> {
        match self.exchange(build, false).await? {
            Exchange::Read(reply) => Ok(reply),
            Exchange::Open(response) => Err(HttpError::Request {
                who: self.who.clone(),
                detail: format!("{} answered unread", response.url().path()),
            }),
        }
    }

    /// Like [`Api::send`], but a success is returned with its body unread, for
    /// streaming large downloads. Failures before the body are retried as in `send`;
    /// a failure while reading the body is the caller's to retry.
    pub async fn open(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<reqwest::Response, HttpError> {
        match self.exchange(build, true).await? {
            Exchange::Open(response) => Ok(response),
            Exchange::Read(reply) => Err(HttpError::Request {
                who: self.who.clone(),
                detail: format!("unexpected buffered reply ({})", reply.status),
            }),
        }
    }

    async fn exchange(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
        open: bool,
    ) -> Result<Exchange, HttpError> {
        let mut last = String::new();
        for attempt in 0..self.policy.max_attempts {
            if attempt > 0 {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            self.pacer.acquire().await;
            let request = build(&self.client)
                .build()
                .map_err(|e| HttpError::Request {
                    who: self.who.clone(),
                    detail: e.to_string(),
                })?;
            let (method, path) = (
                request.method().to_string(),
                request.url().path().to_string(),
            );
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let response = match self.client.execute(request).await {
                Ok(r) => r,
                Err(e) => {
                    // Timeouts and connection failures: the request may or may not
                    // have been applied, which is why every write is idempotent.
                    last = format!("{method} {path}: {}", describe(&e));
                    tokio::time::sleep(self.policy.backoff(attempt + 1)).await;
                    continue;
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            self.hooks.observe(&headers, &self.pacer);
            if open && status.is_success() {
                return Ok(Exchange::Open(response));
            }
            let body = match response.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    last = format!("{method} {path}: reading the body: {}", describe(&e));
                    tokio::time::sleep(self.policy.backoff(attempt + 1)).await;
                    continue;
                }
            };
            let retry_after = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry::parse_retry_after);
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                let wait = retry_after.unwrap_or_else(|| self.policy.backoff(attempt + 1));
                self.pacer.throttled(wait);
                last = format!("{method} {path}: 429 Too Many Requests");
                continue;
            }
            if status.is_success() {
                if let Some(wait) = self.hooks.throttled_body(status, &body) {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    self.pacer.throttled(wait);
                    last = format!("{method} {path}: throttled");
                    continue;
                }
                return Ok(Exchange::Read(Reply {
                    status,
                    headers,
                    body,
                }));
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(HttpError::Auth {
                    who: self.who.clone(),
                    status,
                    detail: snippet(&body),
                    credential: self.credential.clone(),
                });
            }
            if retry::retryable_status(status) {
                last = format!("{method} {path}: {status}");
                let wait = retry_after.unwrap_or_else(|| self.policy.backoff(attempt + 1));
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(HttpError::Status(Box::new(StatusError {
                who: self.who.clone(),
                method,
                path,
                status,
                detail: snippet(&body),
                body,
            })));
        }
        Err(HttpError::GaveUp {
            who: self.who.clone(),
            attempts: self.policy.max_attempts,
            last,
        })
    }
}

/// What one exchange ended with: a read reply, or an open success response.
enum Exchange {
    Read(Reply),
    Open(reqwest::Response),
}

/// One line describing a transport error (timeouts, connection failures).
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        // reqwest errors may contain the URL, whose query can carry ids but never
        // credentials (those travel in headers).
        e.to_string()
    }
}

/// The first 300 characters of a body, on one line.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body).replace(['\n', '\r'], " ");
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
