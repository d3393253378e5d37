//! The bulk result file: one JSONL line per root node, and every nested
//! connection's nodes as separate lines carrying `__parentId` (after their parent,
//! as Shopify emits them). List fields such as `Order.refunds` stay inline, as in
//! Shopify's schema; connections under them (`refundLineItems`, `transactions`,
//! `orderAdjustments`) become lines whose `__parentId` is the refund.
//!
//! A 30-day window of a large store is hundreds of MB of JSON, rendered on the same
//! cores as the extractor under test, so lines are written straight into the output
//! buffer in selection order (as Shopify orders keys), with `/` escaped as `\/` the
//! way Shopify's files have it (`gid:\/\/shopify\/…`).

use std::io::Write as _;

use super::parse::{Field, Selection, fields_for};
use super::resolve::{Scalar, Src, connection, list, object, scalar, self_gid};
use super::schema::{Kind, kind, node_selection};
use crate::sandbox::shopify::model::{Money, StoreData, Ts};

/// A connection met while rendering: its nodes become their own lines.
struct Child<'a> {
    parent: (&'static str, u64),
    ty: &'static str,
    items: Vec<Src<'a>>,
    sels: &'a [Selection],
}

/// A JSON string with Shopify's escaping (`/` as `\/`).
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'/' => b"\\/",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                // Writing into a Vec cannot fail.
                let _ = write!(out, "\\u{b:04x}");
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn two(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// `"2026-05-01T12:00:00Z"`.
fn time(out: &mut Vec<u8>, ts: Ts) {
    use chrono::{Datelike, Timelike};
    let Some(t) = chrono::DateTime::from_timestamp(ts, 0) else {
        int(out, ts);
        return;
    };
    out.push(b'"');
    let year = t.year();
    if (0..10_000).contains(&year) {
        two(out, year as u32 / 100);
        two(out, year as u32 % 100);
    } else {
        int(out, year);
    }
    out.push(b'-');
    two(out, t.month());
    out.push(b'-');
    two(out, t.day());
    out.push(b'T');
    two(out, t.hour());
    out.push(b':');
    two(out, t.minute());
    out.push(b':');
    two(out, t.second());
    out.extend_from_slice(b"Z\"");
}

/// GraphQL `Decimal`: "12.34", "12.3", "10.0".
fn decimal(out: &mut Vec<u8>, m: Money) {
    out.push(b'"');
    if m.0 < 0 {
        out.push(b'-');
    }
    let a = m.0.unsigned_abs();
    int(out, a / 100);
    out.push(b'.');
    let cents = (a % 100) as u32;
    if cents % 10 == 0 {
        out.push(b'0' + (cents / 10) as u8);
    } else {
        two(out, cents);
    }
    out.push(b'"');
}

fn gid(out: &mut Vec<u8>, kind: &str, id: u64) {
    out.extend_from_slice(b"\"gid:\\/\\/shopify\\/");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\\/");
    int(out, id);
    out.push(b'"');
}

fn value(out: &mut Vec<u8>, v: Scalar) {
    match v {
        Scalar::Null => out.extend_from_slice(b"null"),
        Scalar::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Scalar::Int(i) => int(out, i),
        Scalar::Float(f) => match serde_json::Number::from_f64(f) {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => out.extend_from_slice(b"null"),
        },
        Scalar::Str(s) => string(out, s),
        Scalar::Owned(s) => string(out, &s),
        Scalar::IdText(id) => {
            out.push(b'"');
            int(out, id);
            out.push(b'"');
        }
        Scalar::Gid(kind, id) => gid(out, kind, id),
        Scalar::Time(ts) => time(out, ts),
        Scalar::Decimal(m) => decimal(out, m),
        Scalar::Currency(c) => string(out, c.code()),
        Scalar::Tags(s) => {
            let tags = s.split(',').map(str::trim).filter(|t| !t.is_empty());
            list_of(out, tags);
        }
        Scalar::List(items) => list_of(out, items.into_iter()),
    }
}

fn list_of<'s>(out: &mut Vec<u8>, items: impl Iterator<Item = &'s str>) {
    out.push(b'[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, s);
    }
    out.push(b']');
}

/// Writes one object's members, tracking keys so that a field selected twice under
/// one response key is written once, as GraphQL merges it.
struct Members<'o, 'k> {
    out: &'o mut Vec<u8>,
    keys: Vec<&'k str>,
}

impl<'k> Members<'_, 'k> {
    /// Starts the member `key`; false (and nothing written) if it was written already.
    fn key(&mut self, key: &'k str) -> bool {
        if self.keys.contains(&key) {
            return false;
        }
        if !self.keys.is_empty() {
            self.out.push(b',');
        }
        self.keys.push(key);
        string(self.out, key);
        self.out.push(b':');
        true
    }
}

/// Write `src` (of GraphQL type `ty`) with the selected fields; connections are
/// pushed to `children` instead of being written inline. `parent` adds `__parentId`.
fn write_object<'a>(
    out: &mut Vec<u8>,
    store: &'a StoreData,
    ty: &'static str,
    src: Src<'a>,
    sels: &'a [Selection],
    parent: Option<(&'static str, u64)>,
    children: &mut Vec<Child<'a>>,
) {
    out.push(b'{');
    let mut m = Members {
        out,
        keys: Vec::new(),
    };
    for f in fields_for(sels, ty) {
        write_field(&mut m, store, ty, src, f, children);
    }
    if let Some((kind, id)) = parent
        && m.key("__parentId")
    {
        gid(m.out, kind, id);
    }
    m.out.push(b'}');
}

fn write_field<'a>(
    m: &mut Members<'_, 'a>,
    store: &'a StoreData,
    ty: &'static str,
    src: Src<'a>,
    f: &'a Field,
    children: &mut Vec<Child<'a>>,
) {
    if f.name == "__typename" {
        if m.key(f.key()) {
            string(m.out, ty);
        }
        return;
    }
    match kind(ty, &f.name) {
        Some(Kind::Conn(t)) => {
            if let (Some(node), Some(parent)) = (node_selection(f), self_gid(src)) {
                children.push(Child {
                    parent,
                    ty: t,
                    items: connection(src, &f.name),
                    sels: node,
                });
            }
        }
        Some(Kind::Obj(t)) => {
            if !m.key(f.key()) {
                return;
            }
            match object(store, src, &f.name) {
                Some(s) => write_object(m.out, store, t, s, &f.selections, None, children),
                None => m.out.extend_from_slice(b"null"),
            }
        }
        Some(Kind::List(t)) => {
            if !m.key(f.key()) {
                return;
            }
            m.out.push(b'[');
            for (i, s) in list(src, &f.name).into_iter().enumerate() {
                if i > 0 {
                    m.out.push(b',');
                }
                write_object(m.out, store, t, s, &f.selections, None, children);
            }
            m.out.push(b']');
        }
        Some(Kind::Scalar) => {
            if m.key(f.key()) {
                value(m.out, scalar(store, src, f));
            }
        }
        None => {}
    }
}

/// One line for `src`, then (depth first) the lines of its connections' nodes.
fn emit<'a>(
    out: &mut Vec<u8>,
    store: &'a StoreData,
    ty: &'static str,
    src: Src<'a>,
    sels: &'a [Selection],
    parent: Option<(&'static str, u64)>,
    count: &mut u64,
) {
    let mut children = Vec::new();
    write_object(out, store, ty, src, sels, parent, &mut children);
    out.push(b'\n');
    *count += 1;
    for c in children {
        for item in c.items {
            emit(out, store, c.ty, item, c.sels, Some(c.parent), count);
        }
    }
}

/// Render the whole bulk result: (JSONL bytes, objectCount, rootObjectCount).
pub fn bulk_jsonl(
    store: &StoreData,
    root: &Field,
    node: &[Selection],
    filter: &super::search::Filter,
) -> (Vec<u8>, u64, u64) {
    let mut out = Vec::new();
    let (mut count, mut roots) = (0u64, 0u64);
    match root.name.as_str() {
        "customers" => {
            for c in store
                .customers
                .iter()
                .filter(|c| filter.matches(c.id, c.created_at, c.updated_at))
            {
                roots += 1;
                emit(&mut out, store, "Customer", Src::Customer(c), node, None, &mut count);
            }
        }
        _ => {
            for o in store
                .orders
                .iter()
                .filter(|o| filter.matches(o.id, o.created_at, o.updated_at))
            {
                roots += 1;
                emit(&mut out, store, "Order", Src::Order(o), node, None, &mut count);
            }
        }
    }
    (out, count, roots)
}
