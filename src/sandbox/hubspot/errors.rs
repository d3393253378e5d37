//! HubSpot-shaped error bodies: the top-level `Error` model (non-batch responses,
//! including the 429 rate-limit body) and the per-input `StandardError` of 207 batch
//! responses. Clients parse these, so field names follow HubSpot's published models.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One `ErrorDetail` inside an error's `errors` array.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDetail {
    /// Human-readable description.
    pub message: String,
    /// Machine code such as `PROPERTY_DOESNT_EXIST`.
    pub code: Option<String>,
    /// Extra context, HubSpot style (`{key: [values]}`).
    pub context: BTreeMap<String, Vec<String>>,
}

impl ErrorDetail {
    fn to_json(&self) -> Value {
        let mut v = json!({ "message": self.message });
        if let Some(code) = &self.code {
            v["code"] = json!(code);
        }
        if !self.context.is_empty() {
            v["context"] = json!(self.context);
        }
        v
    }
}

/// An API error as HubSpot reports it. Used both as a whole-response error and,
/// through [`ApiError::standard_error`], as one entry of a batch's `errors[]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {category}: {message}")]
pub struct ApiError {
    /// HTTP status of a whole-response error.
    pub status: StatusCode,
    /// HubSpot category, e.g. `VALIDATION_ERROR`.
    pub category: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Optional `subCategory`.
    pub sub_category: Option<&'static str>,
    /// `{key: [values]}` context, e.g. `{"ids": ["12"]}`.
    pub context: BTreeMap<String, Vec<String>>,
    /// Nested details.
    pub errors: Vec<ErrorDetail>,
}

impl ApiError {
    /// A bare error with a status, category and message.
    pub fn new(status: StatusCode, category: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            category,
            message: message.into(),
            sub_category: None,
            context: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    /// 400 `VALIDATION_ERROR`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// 404 `OBJECT_NOT_FOUND` (empty-bodied in HubSpot for single GETs, but a body
    /// is harmless and helps users).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", message)
    }

    /// 409 `CONFLICT`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    /// 401 `INVALID_AUTHENTICATION`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "INVALID_AUTHENTICATION", message)
    }

    /// Adds `values` under `key` in the context map.
    pub fn with_context(mut self, key: &str, values: Vec<String>) -> Self {
        self.context
            .entry(key.to_string())
            .or_default()
            .extend(values);
        self
    }

    /// The body of a whole-response error (HubSpot's `Error` model).
    pub fn body(&self) -> Value {
        let mut v = json!({
            "status": "error",
            "message": self.message,
            "correlationId": uuid::Uuid::new_v4().to_string(),
            "category": self.category,
        });
        self.add_optional(&mut v);
        v
    }

    /// This error as one `StandardError` entry of a 207 batch response.
    pub fn standard_error(&self, id: Option<&str>) -> Value {
        let mut v = json!({
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": self.context,
            "errors": self.errors.iter().map(ErrorDetail::to_json).collect::<Vec<_>>(),
            "links": {},
        });
        if let Some(id) = id {
            v["id"] = json!(id);
        }
        if let Some(sub) = self.sub_category {
            v["subCategory"] = json!(sub);
        }
        v
    }

    fn add_optional(&self, v: &mut Value) {
        if let Some(sub) = self.sub_category {
            v["subCategory"] = json!(sub);
        }
        if !self.context.is_empty() {
            v["context"] = json!(self.context);
        }
        if !self.errors.is_empty() {
            v["errors"] = json!(
                self.errors
                    .iter()
                    .map(ErrorDetail::to_json)
                    .collect::<Vec<_>>()
            );
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body())
    }
}

/// A JSON response with HubSpot's content type.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    resp
}

/// The 429 body of the ten-second rolling limit, as HubSpot sends it.
pub fn ten_secondly_body() -> Value {
    json!({
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": uuid::Uuid::new_v4().to_string(),
        "policyName": "TEN_SECONDLY_ROLLING",
        "groupName": "publicapi:private_app-api-calls-ten-secondly:sandbox",
        "requestId": uuid::Uuid::new_v4().to_string(),
    })
}

/// The 429 body of the search endpoints' per-second limit (the message HubSpot's own
/// SDK keys its search retry on).
pub fn search_secondly_body() -> Value {
    json!({
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": uuid::Uuid::new_v4().to_string(),
        "policyName": "SECONDLY",
        "requestId": uuid::Uuid::new_v4().to_string(),
    })
}

/// The 429 body of the daily limit.
pub fn daily_body() -> Value {
    json!({
        "status": "error",
        "message": "You have reached your daily limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": uuid::Uuid::new_v4().to_string(),
        "policyName": "DAILY",
        "requestId": uuid::Uuid::new_v4().to_string(),
    })
}

/// The 400 HubSpot answers when a request body is not valid JSON or not the
/// expected shape.
pub fn invalid_json(err: &serde_json::Error) -> ApiError {
    ApiError::validation(format!(
        "Invalid input JSON on line {}, column {}: {}",
        err.line(),
        err.column(),
        err
    ))
}
