//! JSON:API error bodies as Klaviyo sends them for every 4XX/5XX:
//! `{"errors":[{"id","status","code","title","detail","source":{...},"links"?,"meta"}]}`
//! with `Content-Type: application/vnd.api+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The JSON:API media type Klaviyo speaks.
pub const JSON_API: &str = "application/vnd.api+json";

/// Where in the request an error was found.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A JSON pointer into the body, e.g. `/data/attributes/email`.
    Pointer(String),
    /// A query parameter or header name, e.g. `page[size]`, `revision`.
    Parameter(String),
}

/// One JSON:API error (Klaviyo usually answers with exactly one).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {code}: {detail}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine code, e.g. `invalid`, `not_found`, `throttled`.
    pub code: &'static str,
    /// Short title.
    pub title: &'static str,
    /// Specific detail.
    pub detail: String,
    /// Where the problem is.
    pub origin: Option<Source>,
    /// `meta.duplicate_profile_id` of a 409 (the only `meta` member the sandbox
    /// emits; kept narrow so the error stays small).
    pub duplicate_profile_id: Option<String>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            origin: None,
            duplicate_profile_id: None,
        }
    }

    /// 400 `invalid` at a body pointer.
    pub fn invalid(detail: impl Into<String>, pointer: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", "Invalid input.", detail).at(pointer)
    }

    /// 400 `invalid` about a query parameter or header.
    pub fn invalid_param(detail: impl Into<String>, parameter: &str) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid", "Invalid input.", detail);
        e.origin = Some(Source::Parameter(parameter.to_string()));
        e
    }

    /// 404 `not_found`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found.", detail)
    }

    /// 409 `duplicate_profile`, naming the profile that holds the identifier.
    pub fn duplicate_profile(existing_id: &str) -> Self {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            "duplicate_profile",
            "Conflict.",
            "A profile already exists with one of these identifiers.",
        )
        .at("/data/attributes");
        e.duplicate_profile_id = Some(existing_id.to_string());
        e
    }

    /// 401 for a missing key.
    pub fn not_authenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
            "Authentication credentials were not provided.",
            "Missing or invalid private key.",
        )
        .at("/data/")
    }

    /// 401 for a wrong or expired key.
    pub fn authentication_failed() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_failed",
            "Incorrect authentication credentials.",
            "Incorrect authentication credentials.",
        )
        .at("/data/")
    }

    /// 429 `throttled` with Klaviyo's exact wording.
    pub fn throttled(retry_after_secs: u64) -> Self {
        let unit = if retry_after_secs == 1 {
            "second"
        } else {
            "seconds"
        };
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            "Request was throttled.",
            format!("Request was throttled. Expected available in {retry_after_secs} {unit}."),
        )
        .at("/data")
    }

    /// 413 for an oversized body.
    pub fn too_large(limit: &str) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            "Request payload too large.",
            format!("The request payload exceeds the maximum size of {limit}."),
        )
        .at("/data")
    }

    /// 415 for a body that is not JSON:API.
    pub fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type.",
            format!("Unsupported media type \"{ct}\" in request."),
        )
    }

    /// 406 for an `Accept` header Klaviyo cannot satisfy.
    pub fn not_acceptable() -> Self {
        Self::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            "Could not satisfy the request Accept header.",
            "Could not satisfy the request Accept header.",
        )
    }

    /// A 5xx, for chaos.
    pub fn server(status: StatusCode) -> Self {
        Self::new(
            status,
            "error",
            "A server error occurred.",
            status
                .canonical_reason()
                .unwrap_or("Server error")
                .to_string(),
        )
    }

    fn at(mut self, pointer: &str) -> Self {
        self.origin = Some(Source::Pointer(pointer.to_string()));
        self
    }

    /// This error as one element of `errors[]`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "status": self.status.as_u16(),
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "source": match &self.origin {
                Some(Source::Pointer(p)) => json!({ "pointer": p }),
                Some(Source::Parameter(p)) => json!({ "parameter": p }),
                None => json!({}),
            },
            "meta": match &self.duplicate_profile_id {
                Some(id) => json!({ "duplicate_profile_id": id }),
                None => json!({}),
            },
        });
        if self.code == "throttled" {
            v["links"] = json!({
                "type": "https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling#rate-limits"
            });
        }
        v
    }

    /// The whole response body.
    pub fn body(&self) -> Value {
        json!({ "errors": [self.to_json()] })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        api_response(self.status, Some(&self.body()))
    }
}

/// A response with the JSON:API content type (no body for `None`).
pub fn api_response(status: StatusCode, body: Option<&Value>) -> Response {
    let mut resp = match body {
        Some(b) => (status, b.to_string()).into_response(),
        None => status.into_response(),
    };
    if body.is_some() {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_API));
    }
    resp
}

/// The 400 for a body that is not valid JSON.
pub fn malformed(err: &serde_json::Error) -> ApiError {
    ApiError::invalid(format!("JSON parse error - {err}"), "/data")
}
