//! The request log: what clients actually did to the platform emulators. Counts per
//! (method, endpoint template, status), the 429s served, how many answers chaos
//! injected, and a ring buffer of the most recent requests. Admin routes are not
//! logged, so inspecting the log does not change it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Value, json};

#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub seq: u64,
    pub at: String,
    pub platform: &'static str,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    pub millis: f64,
    pub injected: bool,
}

#[derive(Default)]
struct Inner {
    seq: u64,
    throttled: u64,
    injected: u64,
    counts: BTreeMap<(String, String, u16), u64>,
    recent: VecDeque<Entry>,
}

pub struct RequestLog {
    capacity: usize,
    inner: Mutex<Inner>,
}

/// Which emulator a path belongs to.
pub fn platform(path: &str) -> &'static str {
    if path.starts_with("/admin/") {
        "shopify"
    } else if path.starts_with("/crm/") {
        "hubspot"
    } else if path.starts_with("/api/") {
        "klaviyo"
    } else {
        "other"
    }
}

/// The endpoint template of a path: numeric ids → `{id}`, API versions → `{version}`,
/// so that counts group by endpoint rather than by record.
pub fn template(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let segs: Vec<&str> = path.split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        let (stem, ext) = match seg.rsplit_once('.') {
            Some((s, e)) if e == "json" || e == "jsonl" => (s, Some(e)),
            _ => (*seg, None),
        };
        let prev = if i > 0 { segs[i - 1] } else { "" };
        let is_version = prev == "api"
            && i == 3
            && (stem.len() == 7 && stem.as_bytes().get(4) == Some(&b'-') || stem == "unstable");
        let is_id = !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit());
        if is_version {
            out.push_str("{version}");
        } else if is_id {
            out.push_str("{id}");
        } else {
            out.push_str(stem);
        }
        if let Some(e) = ext {
            out.push('.');
            out.push_str(e);
        }
    }
    out
}

impl RequestLog {
    pub fn new(capacity: usize) -> RequestLog {
        RequestLog {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn record(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        status: u16,
        millis: f64,
        injected: bool,
    ) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.seq += 1;
        if status == 429 {
            g.throttled += 1;
        }
        if injected {
            g.injected += 1;
        }
        *g.counts
            .entry((method.to_string(), template(path), status))
            .or_insert(0) += 1;
        let e = Entry {
            seq: g.seq,
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            platform: platform(path),
            method: method.to_string(),
            path: path.to_string(),
            query: query.map(String::from),
            status,
            millis,
            injected,
        };
        if g.recent.len() == self.capacity {
            g.recent.pop_front();
        }
        g.recent.push_back(e);
    }

    pub fn reset(&self) {
        *self.inner.lock().unwrap_or_else(|p| p.into_inner()) = Inner::default();
    }

    /// The log as JSON, with the last `recent` entries.
    pub fn to_json(&self, recent: usize) -> Value {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_platform: BTreeMap<&'static str, u64> = BTreeMap::new();
        let by_endpoint: Vec<Value> = g
            .counts
            .iter()
            .map(|((m, t, s), n)| {
                *by_status.entry(s.to_string()).or_insert(0) += n;
                *by_platform.entry(platform(t)).or_insert(0) += n;
                json!({"method": m, "endpoint": t, "status": s, "count": n})
            })
            .collect();
        let skip = g.recent.len().saturating_sub(recent);
        json!({
            "total": g.seq,
            "throttled_429": g.throttled,
            "injected": g.injected,
            "by_status": by_status,
            "by_platform": by_platform,
            "by_endpoint": by_endpoint,
            "recent": g.recent.iter().skip(skip).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_group_ids_and_versions() {
        assert_eq!(
            template("/admin/api/2026-07/orders/123/refunds.json"),
            "/admin/api/{version}/orders/{id}/refunds.json"
        );
        assert_eq!(
            template("/crm/v3/objects/contacts/42"),
            "/crm/v3/objects/contacts/{id}"
        );
        assert_eq!(template("/api/profile-import"), "/api/profile-import");
    }
}
