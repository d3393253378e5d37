//! Shopify's error responses: bodies as the Admin API sends them (`{"errors": …}`),
//! with the status codes clients branch on.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The text Shopify answers an unauthenticated request with.
pub const INVALID_TOKEN: &str =
    "[API] Invalid API key or access token (unrecognized login or wrong password)";
/// The text of Shopify's REST 429.
pub const THROTTLED: &str = "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.";
/// Where Shopify's pagination errors point.
pub const PAGINATION_DOC: &str = "https://shopify.dev/api/usage/pagination-rest";

/// An error answer: status plus JSON body plus extra headers.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, body: Value) -> ApiError {
        ApiError {
            status,
            body,
            headers: Vec::new(),
        }
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, json!({"errors": INVALID_TOKEN}))
    }
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, json!({"errors": "Not Found"}))
    }
    /// A 400 naming the parameter at fault, as `{"errors": {"param": "message"}}`.
    pub fn param(param: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            json!({"errors": {param: message.into()}}),
        )
    }
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": {"base": [message.into()]}}),
        )
    }
    pub fn throttled(retry_after: f64, call_limit: String) -> ApiError {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, json!({"errors": THROTTLED}));
        e.headers.push(("retry-after", format!("{retry_after:.1}")));
        e.headers
            .push(("x-shopify-shop-api-call-limit", call_limit));
        e
    }
    /// A platform-shaped answer for a fault injected by chaos.
    pub fn injected(status: StatusCode) -> Response {
        match status.as_u16() {
            401 => ApiError::unauthorized().into_response(),
            429 => ApiError::throttled(2.0, "40/40".into()).into_response(),
            502 => {
                let mut r =
                    (status, "<html><body><h1>502 Bad Gateway</h1></body></html>").into_response();
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
                r
            }
            503 => ApiError::new(status, json!({"errors": "Unavailable Shop"})).into_response(),
            504 => ApiError::new(status, json!({"errors": "Gateway Timeout"})).into_response(),
            _ => ApiError::new(status, json!({"errors": "Internal Server Error"})).into_response(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body)).into_response();
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                r.headers_mut().insert(k, v);
            }
        }
        r
    }
}
