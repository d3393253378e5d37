//! REST list parameters and cursor pagination. A page's `Link` header carries
//! `page_info` tokens that encode the filters and the position, so follow-up requests
//! may carry only `page_info`, `limit` and `fields` — anything else is refused with
//! Shopify's error, as the real API does. Tokens are opaque (base64url of JSON) and
//! refused when altered.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::errors::{ApiError, PAGINATION_DOC};
use super::model::{Ts, parse_ts};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 250;

/// A sort/cursor key, already direction-adjusted (descending sorts negate it).
pub type Key = (i64, i64);

/// Filters a list request may carry on its first page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_min: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_max: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_min: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_max: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub financial_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_item_ids: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_ids: Option<Vec<u64>>,
}

impl Filters {
    /// The id/created/updated checks common to every resource.
    pub fn matches_common(&self, id: u64, created: Ts, updated: Ts) -> bool {
        self.created_min.is_none_or(|m| created >= m)
            && self.created_max.is_none_or(|m| created <= m)
            && self.updated_min.is_none_or(|m| updated >= m)
            && self.updated_max.is_none_or(|m| updated <= m)
            && self.since_id.is_none_or(|s| id > s)
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&id))
    }
}

/// Sort field of a list (`order=updated_at asc`); id ascending by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortField {
    #[default]
    Id,
    CreatedAt,
    UpdatedAt,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    pub field: SortField,
    pub desc: bool,
}

impl Sort {
    pub fn key(&self, id: u64, created: Ts, updated: Ts) -> Key {
        let v = match self.field {
            SortField::Id => 0,
            SortField::CreatedAt => created,
            SortField::UpdatedAt => updated,
        };
        let id = id as i64;
        if self.desc { (-v, -id) } else { (v, id) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dir {
    #[serde(rename = "n")]
    Next,
    #[serde(rename = "p")]
    Prev,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Token {
    r: String,
    f: Filters,
    s: Sort,
    k: Key,
    d: Dir,
}

/// A parsed list request.
#[derive(Clone, Debug, PartialEq)]
pub struct ListRequest {
    pub limit: usize,
    pub fields: Option<String>,
    pub filters: Filters,
    pub sort: Sort,
    pub cursor: Option<(Key, Dir)>,
}

fn ids(param: &str, v: &str) -> Result<Vec<u64>, ApiError> {
    v.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::param(param, "Invalid value."))
        })
        .collect()
}

fn time(param: &str, v: &str) -> Result<Ts, ApiError> {
    parse_ts(v).ok_or_else(|| ApiError::param(param, "Invalid value."))
}

fn parse_limit(v: &str) -> Result<usize, ApiError> {
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::param(
            "limit",
            format!("Limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// Parse the query of a list (or, with `paged = false`, a count) request.
/// `allowed` names the filters this resource understands; others are ignored as
/// Shopify ignores unknown parameters — except next to `page_info`.
pub fn parse(
    resource: &str,
    pairs: &[(String, String)],
    allowed: &[&str],
    paged: bool,
) -> Result<ListRequest, ApiError> {
    let mut req = ListRequest {
        limit: DEFAULT_LIMIT,
        fields: None,
        filters: Filters::default(),
        sort: Sort::default(),
        cursor: None,
    };
    let page_info = pairs
        .iter()
        .find(|(k, _)| k == "page_info")
        .filter(|_| paged);
    if let Some((_, tok)) = page_info {
        if let Some((k, _)) = pairs
            .iter()
            .find(|(k, _)| !matches!(k.as_str(), "page_info" | "limit" | "fields"))
        {
            return Err(ApiError::param(
                k,
                format!("{k} cannot be passed when page_info is present. See {PAGINATION_DOC}"),
            ));
        }
        let t = decode(tok)
            .filter(|t| t.r == resource)
            .ok_or_else(|| ApiError::param("page_info", "Invalid value."))?;
        req.filters = t.f;
        req.sort = t.s;
        req.cursor = Some((t.k, t.d));
    }
    for (k, v) in pairs {
        match k.as_str() {
            "limit" if paged => req.limit = parse_limit(v)?,
            "fields" => req.fields = Some(v.clone()),
            "page_info" => {}
            _ if page_info.is_some() => {}
            k if !allowed.contains(&k) => {}
            "created_at_min" => req.filters.created_min = Some(time(k, v)?),
            "created_at_max" => req.filters.created_max = Some(time(k, v)?),
            "updated_at_min" => req.filters.updated_min = Some(time(k, v)?),
            "updated_at_max" => req.filters.updated_max = Some(time(k, v)?),
            "since_id" => {
                req.filters.since_id = Some(
                    v.trim()
                        .parse()
                        .map_err(|_| ApiError::param(k, "Invalid value."))?,
                )
            }
            "ids" => req.filters.ids = Some(ids(k, v)?),
            "inventory_item_ids" => req.filters.inventory_item_ids = Some(ids(k, v)?),
            "location_ids" => req.filters.location_ids = Some(ids(k, v)?),
            "status" => req.filters.status = Some(v.clone()),
            "financial_status" => req.filters.financial_status = Some(v.clone()),
            "order" => req.sort = parse_sort(v)?,
            _ => {}
        }
    }
    Ok(req)
}

fn parse_sort(v: &str) -> Result<Sort, ApiError> {
    let mut it = v.split_whitespace();
    let field = match it.next().unwrap_or("id") {
        "id" => SortField::Id,
        "created_at" => SortField::CreatedAt,
        "updated_at" => SortField::UpdatedAt,
        _ => return Err(ApiError::param("order", "Invalid value.")),
    };
    let desc = match it.next() {
        None | Some("asc") | Some("ASC") => false,
        Some("desc") | Some("DESC") => true,
        Some(_) => return Err(ApiError::param("order", "Invalid value.")),
    };
    Ok(Sort { field, desc })
}

fn decode(tok: &str) -> Option<Token> {
    let bytes = URL_SAFE_NO_PAD.decode(tok.trim()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn encode(t: &Token) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(t).unwrap_or_default())
}

/// One page: the selected items plus whether there are pages either side.
pub struct Page<T> {
    pub items: Vec<(Key, T)>,
    pub has_next: bool,
    pub has_prev: bool,
}

/// Select a page from `candidates` (already filtered, any order), using a bounded
/// heap so that a page of a million-row store costs one pass and no sort of it.
///
/// `sorted` says the candidates arrive in ascending key order (the default id sort
/// over an id-ordered store): a forward page then stops once it is full.
pub fn select<T>(
    candidates: impl Iterator<Item = (Key, T)>,
    req: &ListRequest,
    sorted: bool,
) -> Page<T> {
    let want = req.limit + 1;
    match req.cursor {
        None | Some((_, Dir::Next)) => {
            let after = req.cursor.map(|(k, _)| k);
            let mut heap: BinaryHeap<HeapItem<T>> = BinaryHeap::new();
            for (k, t) in candidates {
                if after.is_some_and(|a| k <= a) {
                    continue;
                }
                if heap.len() == want && heap.peek().is_some_and(|top| k >= top.0) {
                    continue;
                }
                heap.push(HeapItem(k, t));
                if heap.len() > want {
                    heap.pop();
                }
                if sorted && heap.len() == want {
                    break;
                }
            }
            let mut items: Vec<(Key, T)> = heap
                .into_sorted_vec()
                .into_iter()
                .map(|h| (h.0, h.1))
                .collect();
            let has_next = items.len() > req.limit;
            items.truncate(req.limit);
            Page {
                items,
                has_next,
                has_prev: req.cursor.is_some(),
            }
        }
        Some((before, Dir::Prev)) => {
            let mut heap: BinaryHeap<Reverse<HeapItem<T>>> = BinaryHeap::new();
            for (k, t) in candidates {
                if k >= before {
                    continue;
                }
                heap.push(Reverse(HeapItem(k, t)));
                if heap.len() > want {
                    heap.pop();
                }
            }
            let mut items: Vec<(Key, T)> = heap.into_iter().map(|Reverse(h)| (h.0, h.1)).collect();
            items.sort_by_key(|(k, _)| *k);
            let has_prev = items.len() > req.limit;
            if has_prev {
                items.remove(0);
            }
            Page {
                items,
                has_next: true,
                has_prev,
            }
        }
    }
}

struct HeapItem<T>(Key, T);
impl<T> PartialEq for HeapItem<T> {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl<T> Eq for HeapItem<T> {}
impl<T> PartialOrd for HeapItem<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for HeapItem<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}

/// Where a forward walk in default (id ascending) order can start in an id-sorted
/// slice, skipping what the cursor already covered; 0 for any other walk.
pub fn sorted_start(ids: impl Fn(usize) -> u64, len: usize, req: &ListRequest) -> usize {
    if req.sort != Sort::default() {
        return 0;
    }
    match req.cursor {
        Some(((_, last), Dir::Next)) => {
            let (mut lo, mut hi) = (0usize, len);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if (ids(mid) as i64) <= last {
                    lo = mid + 1
                } else {
                    hi = mid
                }
            }
            lo
        }
        _ => 0,
    }
}

/// The `Link` header for a page, or None for a lone page.
pub fn link_header<T>(
    page: &Page<T>,
    req: &ListRequest,
    resource: &str,
    url_base: &str,
) -> Option<String> {
    let mut links = Vec::new();
    let mk = |k: Key, d: Dir| {
        let tok = encode(&Token {
            r: resource.to_string(),
            f: req.filters.clone(),
            s: req.sort,
            k,
            d,
        });
        let fields = req
            .fields
            .as_ref()
            .map(|f| {
                format!(
                    "&fields={}",
                    url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()
                )
            })
            .unwrap_or_default();
        format!("<{url_base}?limit={}{fields}&page_info={tok}>", req.limit)
    };
    if page.has_prev
        && let Some((k, _)) = page.items.first()
    {
        links.push(format!("{}; rel=\"previous\"", mk(*k, Dir::Prev)));
    }
    if page.has_next
        && let Some((k, _)) = page.items.last()
    {
        links.push(format!("{}; rel=\"next\"", mk(*k, Dir::Next)));
    }
    (!links.is_empty()).then(|| links.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(limit: usize, cursor: Option<(Key, Dir)>) -> ListRequest {
        ListRequest {
            limit,
            fields: None,
            filters: Filters::default(),
            sort: Sort::default(),
            cursor,
        }
    }

    #[test]
    fn pages_forward_and_back() {
        let data: Vec<(Key, u32)> = (0..7).map(|i| ((0, i64::from(i)), i)).collect();
        let p1 = select(data.iter().cloned(), &req(3, None), true);
        assert_eq!(
            p1.items.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(p1.has_next && !p1.has_prev);
        let p2 = select(
            data.iter().cloned(),
            &req(3, Some(((0, 2), Dir::Next))),
            false,
        );
        assert_eq!(
            p2.items.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        let back = select(
            data.iter().cloned(),
            &req(3, Some(((0, 3), Dir::Prev))),
            false,
        );
        assert_eq!(
            back.items.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(!back.has_prev);
        let p3 = select(
            data.iter().cloned(),
            &req(3, Some(((0, 5), Dir::Next))),
            true,
        );
        assert_eq!(p3.items.iter().map(|x| x.1).collect::<Vec<_>>(), vec![6]);
        assert!(!p3.has_next);
    }

    #[test]
    fn page_info_excludes_other_filters() {
        let pairs = vec![
            ("page_info".to_string(), "x".to_string()),
            ("status".to_string(), "any".to_string()),
        ];
        let e = parse("orders", &pairs, &["status"], true)
            .err()
            .map(|e| e.body.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("status cannot be passed when page_info is present"),
            "{e}"
        );
    }
}
