//! HTTP wiring: every API route (with and without a trailing slash) behind the
//! guard — API key, mandatory `revision`, content negotiation, per-endpoint rate
//! limits and `RateLimit-*` headers — plus unauthenticated admin routes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use chrono::NaiveDate;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::errors::{ApiError, JSON_API, api_response, malformed};
use super::rate_limit::Tier;
use super::{Klaviyo, State as Account, bulk, events, lock, profiles};

type Kl = State<Arc<Klaviyo>>;

/// Body size limits from Klaviyo's endpoint docs.
const PROFILE_IMPORT_MAX: usize = 100 * 1024;
const BULK_MAX: usize = 5 * 1024 * 1024;

pub(super) fn router(kl: Arc<Klaviyo>) -> Router {
    let routes: Vec<(&str, MethodRouter<Arc<Klaviyo>>)> = vec![
        ("/api/profile-import", post(profile_import)),
        ("/api/profiles", get(list_profiles)),
        ("/api/profiles/{id}", get(get_profile)),
        (
            "/api/profile-bulk-import-jobs",
            post(submit_job).get(list_jobs),
        ),
        ("/api/profile-bulk-import-jobs/{id}", get(get_job)),
        (
            "/api/profile-bulk-import-jobs/{id}/import-errors",
            get(job_errors),
        ),
        ("/api/events", post(create_event).get(list_events)),
    ];
    let mut api = Router::new();
    for (path, handler) in routes {
        api = api
            .route(path, handler.clone())
            .route(&format!("{path}/"), handler);
    }
    let api = api
        .route_layer(middleware::from_fn_with_state(kl.clone(), guard))
        // Size limits are checked per endpoint with Klaviyo's error body.
        .layer(DefaultBodyLimit::max(BULK_MAX * 2));
    let admin = Router::new()
        .route("/_sandbox/klaviyo/state", get(admin_state))
        .route("/_sandbox/klaviyo/reset", post(admin_reset));
    api.merge(admin).with_state(kl)
}

fn tier(method: &Method, path: &str) -> Tier {
    let path = path.trim_end_matches('/');
    if path == "/api/profile-import" {
        Tier::ProfileImport
    } else if path.starts_with("/api/profile-bulk-import-jobs") {
        Tier::BulkJobs
    } else if path == "/api/events" {
        if method == Method::POST {
            Tier::CreateEvent
        } else {
            Tier::GetEvents
        }
    } else {
        Tier::GetProfiles
    }
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `YYYY-MM-DD[.suffix]`, not after today.
fn check_revision(h: &HeaderMap) -> Result<(), ApiError> {
    let Some(raw) = h.get("revision").and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::invalid_param(
            "Missing required header 'revision'. Send the API revision as 'revision: YYYY-MM-DD'.",
            "revision",
        ));
    };
    let date = raw.split_once('.').map_or(raw, |(d, _)| d);
    match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
        Ok(d) if date.len() == 10 && d <= chrono::Utc::now().date_naive() => Ok(()),
        Ok(_) => Err(ApiError::invalid_param(
            format!("The revision '{raw}' is not available yet."),
            "revision",
        )),
        Err(_) => Err(ApiError::invalid_param(
            format!("Invalid revision '{raw}'. Expected format: YYYY-MM-DD[.suffix]."),
            "revision",
        )),
    }
}

fn check_media(method: &Method, h: &HeaderMap) -> Result<(), ApiError> {
    if let Some(accept) = header_str(h, header::ACCEPT) {
        let ok = accept.split(',').any(|a| {
            let a = a.split(';').next().unwrap_or("").trim();
            matches!(
                a,
                "application/vnd.api+json" | "application/json" | "application/*" | "*/*" | ""
            )
        });
        if !ok {
            return Err(ApiError::not_acceptable());
        }
    }
    if method == Method::POST {
        let ct = header_str(h, header::CONTENT_TYPE).unwrap_or("");
        let base = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if base != JSON_API && base != "application/json" {
            return Err(ApiError::unsupported_media_type(ct));
        }
    }
    Ok(())
}

async fn guard(State(kl): Kl, req: Request, next: Next) -> Response {
    let auth = header_str(req.headers(), header::AUTHORIZATION);
    match auth.and_then(|a| a.strip_prefix("Klaviyo-API-Key ")) {
        None => return ApiError::not_authenticated().into_response(),
        Some(k) if !bool::from(k.trim().as_bytes().ct_eq(kl.opts.api_key.as_bytes())) => {
            return ApiError::authentication_failed().into_response();
        }
        Some(_) => {}
    }
    if let Err(e) =
        check_revision(req.headers()).and_then(|_| check_media(req.method(), req.headers()))
    {
        return e.into_response();
    }
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| req.uri().path().to_string(), |m| m.as_str().to_string());
    let decision = lock(&kl.limiter).check(tier(req.method(), &path), Instant::now());
    match decision {
        Err(wait) => {
            let mut resp = ApiError::throttled(wait).into_response();
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                resp.headers_mut().insert("Retry-After", v);
            }
            resp
        }
        Ok(a) => {
            let mut resp = next.run(req).await;
            let h = resp.headers_mut();
            for (k, v) in [
                ("RateLimit-Limit", a.limit.to_string()),
                ("RateLimit-Remaining", a.remaining.to_string()),
                ("RateLimit-Reset", a.reset_secs.to_string()),
            ] {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    h.insert(k, v);
                }
            }
            resp
        }
    }
}

fn base_url(h: &HeaderMap) -> String {
    format!(
        "http://{}",
        header_str(h, header::HOST).unwrap_or("127.0.0.1")
    )
}

fn query(raw: &Option<String>) -> Vec<(String, String)> {
    raw.as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn parse_body(body: &Bytes, max: usize, max_label: &str) -> Result<Value, ApiError> {
    if body.len() > max {
        return Err(ApiError::too_large(max_label));
    }
    serde_json::from_slice(body).map_err(|e| malformed(&e))
}

fn ok(status: StatusCode, v: Result<Value, ApiError>) -> Response {
    match v {
        Ok(v) => api_response(status, Some(&v)),
        Err(e) => e.into_response(),
    }
}

async fn profile_import(State(kl): Kl, headers: HeaderMap, body: Bytes) -> Response {
    let result = parse_body(&body, PROFILE_IMPORT_MAX, "100KB").and_then(|b| {
        let mut s = lock(&kl.state);
        profiles::import(&mut s.profiles, &b, &base_url(&headers))
    });
    match result {
        Ok((status, v)) => api_response(status, Some(&v)),
        Err(e) => e.into_response(),
    }
}

async fn list_profiles(
    State(kl): Kl,
    headers: HeaderMap,
    path: MatchedPath,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(&raw);
    let s = lock(&kl.state);
    ok(
        StatusCode::OK,
        profiles::list(&s.profiles, &q, &base_url(&headers), path.as_str()),
    )
}

async fn get_profile(
    State(kl): Kl,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(&raw);
    let s = lock(&kl.state);
    ok(
        StatusCode::OK,
        profiles::get(&s.profiles, &id, &q, &base_url(&headers)),
    )
}

async fn create_event(State(kl): Kl, body: Bytes) -> Response {
    let result = parse_body(&body, BULK_MAX, "5MB").and_then(|b| {
        let mut s = lock(&kl.state);
        let Account {
            profiles, events, ..
        } = &mut *s;
        events::create(events, profiles, &b)
    });
    match result {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn list_events(
    State(kl): Kl,
    headers: HeaderMap,
    path: MatchedPath,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(&raw);
    let s = lock(&kl.state);
    ok(
        StatusCode::OK,
        events::list(&s.events, &q, &base_url(&headers), path.as_str()),
    )
}

async fn submit_job(State(kl): Kl, headers: HeaderMap, body: Bytes) -> Response {
    let result = parse_body(&body, BULK_MAX, "5MB").and_then(|b| {
        let mut s = lock(&kl.state);
        bulk::submit(&mut s.jobs, &b, &base_url(&headers))
    });
    match result {
        Ok((id, v)) => {
            tokio::spawn(run_job(kl.clone(), id));
            api_response(StatusCode::ACCEPTED, Some(&v))
        }
        Err(e) => e.into_response(),
    }
}

/// Moves a job through queued → processing → complete in the background.
async fn run_job(kl: Arc<Klaviyo>, id: String) {
    let step = Duration::from_millis(kl.opts.bulk_job_step_ms);
    tokio::time::sleep(step).await;
    bulk::start(&mut lock(&kl.state).jobs, &id);
    tokio::time::sleep(step).await;
    let mut from = 0;
    loop {
        let more = {
            let mut s = lock(&kl.state);
            let Account { profiles, jobs, .. } = &mut *s;
            bulk::process_chunk(jobs, profiles, &id, from)
        };
        if !more {
            break;
        }
        from += bulk::CHUNK;
        tokio::task::yield_now().await;
    }
}

async fn list_jobs(
    State(kl): Kl,
    headers: HeaderMap,
    path: MatchedPath,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(&raw);
    let s = lock(&kl.state);
    ok(
        StatusCode::OK,
        bulk::list(&s.jobs, &q, &base_url(&headers), path.as_str()),
    )
}

async fn get_job(State(kl): Kl, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let s = lock(&kl.state);
    match bulk::get(&s.jobs, &id, &base_url(&headers)) {
        Ok((status, v)) => api_response(status, Some(&v)),
        Err(e) => e.into_response(),
    }
}

async fn job_errors(
    State(kl): Kl,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query(&raw);
    let path = format!("/api/profile-bulk-import-jobs/{id}/import-errors");
    let s = lock(&kl.state);
    ok(
        StatusCode::OK,
        bulk::import_errors(&s.jobs, &id, &q, &base_url(&headers), &path),
    )
}

async fn admin_state(State(kl): Kl) -> Response {
    api_response(StatusCode::OK, Some(&kl.state_json()))
}

async fn admin_reset(State(kl): Kl) -> Response {
    kl.reset();
    StatusCode::NO_CONTENT.into_response()
}
