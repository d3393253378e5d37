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

use super::names::Name;
use super::parse::{Field, Selection, fields_for};
use super::resolve::{Lookup, Scalar, Src, connection, list, object, scalar, self_gid};
use super::schema::{Kind, kind, node_selection};
use crate::buffers::BytePool;
use crate::sandbox::shopify::model::{Money, StoreData, Ts};

/// A connection met while rendering: its nodes become their own lines.
struct Child<'a> {
    parent: (&'static str, u64),
    ty: &'static str,
    items: Vec<Src<'a>>,
    plan: Plan,
}

/// What each byte becomes inside a JSON string: 0 stays, `u` is `\u00XX`, anything
/// else is the letter after a backslash (Shopify also escapes `/`).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'/' as usize] = b'/';
    t
};

/// A JSON string with Shopify's escaping (`/` as `\/`).
fn string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if esc == b'u' {
            // Writing into a Vec cannot fail.
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
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
    if cents.is_multiple_of(10) {
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
        Scalar::OrderName(n) => {
            out.extend_from_slice(b"\"#");
            int(out, n);
            out.push(b'"');
        }
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

/// One member of an object's plan: a selected field with its schema kind and its
/// key already written as JSON after a comma (`,"key":`).
struct Member {
    /// The field's name, for the resolvers.
    name: Name,
    kind: Kind,
    key: Vec<u8>,
    /// `__typename`, settled once here rather than by comparing names per value.
    typename: bool,
    /// The plan of what it holds (a nested object, a list's items, a connection's
    /// nodes), made with its parent's, so that no object looks its plan up.
    child: Option<Plan>,
}

/// The members written for a selection set on a type, worked out once per export:
/// fields not in the schema are left out, and a response key selected twice is
/// written once (its first selection), as GraphQL merges such fields.
type Plan = std::rc::Rc<[Member]>;

/// The plan for `sels` on type `ty`, with the plans of everything under it.
fn plan(sels: &[Selection], ty: &'static str) -> Plan {
    let mut members: Vec<Member> = Vec::new();
    for f in fields_for(sels, ty) {
        let Some(kind) = kind(ty, &f.name) else {
            continue;
        };
        let mut key = vec![b','];
        string(&mut key, f.key());
        key.push(b':');
        // A connection writes no member of its own; its nodes become lines.
        let writes = !matches!(kind, Kind::Conn(_));
        if writes && members.iter().any(|m| m.key == key) {
            continue;
        }
        // Selections are finite trees, so this recursion ends.
        let child = match kind {
            Kind::Obj(t) | Kind::List(t) => Some(plan(&f.selections, t)),
            Kind::Conn(t) => node_selection(f).map(|node| plan(node, t)),
            Kind::Scalar => None,
        };
        members.push(Member {
            name: Name::of(&f.name),
            kind,
            key: if writes { key } else { Vec::new() },
            typename: f.name == "__typename",
            child,
        });
    }
    members.into()
}

/// The state of one export: its output and what it reads.
struct Writer<'a> {
    lookup: Lookup<'a>,
    out: Vec<u8>,
    buffers: &'a BytePool,
}

impl<'a> Writer<'a> {
    /// Write `src` (of GraphQL type `ty`) with the selected fields; connections are
    /// pushed to `children` instead of being written inline. `parent` adds
    /// `__parentId`.
    fn object(
        &mut self,
        ty: &'static str,
        src: Src<'a>,
        plan: &Plan,
        parent: Option<(&'static str, u64)>,
        children: &mut Vec<Child<'a>>,
    ) {
        self.out.push(b'{');
        let mut first = true;
        for m in plan.iter() {
            if let Kind::Conn(t) = m.kind {
                if let (Some(node), Some(parent)) = (&m.child, self_gid(src)) {
                    children.push(Child {
                        parent,
                        ty: t,
                        items: connection(src, m.name),
                        plan: node.clone(),
                    });
                }
                continue;
            }
            // The key is stored after a comma, which the first member leaves out.
            self.out.extend_from_slice(&m.key[usize::from(first)..]);
            first = false;
            self.member(ty, src, m, children);
        }
        if let Some((kind, id)) = parent {
            if !first {
                self.out.push(b',');
            }
            self.out.extend_from_slice(b"\"__parentId\":");
            gid(&mut self.out, kind, id);
        }
        self.out.push(b'}');
    }

    fn member(
        &mut self,
        ty: &'static str,
        src: Src<'a>,
        m: &Member,
        children: &mut Vec<Child<'a>>,
    ) {
        match (m.kind, &m.child) {
            _ if m.typename => string(&mut self.out, ty),
            (Kind::Obj(t), Some(plan)) => match object(&self.lookup, src, m.name) {
                Some(s) => self.object(t, s, plan, None, children),
                None => self.out.extend_from_slice(b"null"),
            },
            (Kind::List(t), Some(plan)) => {
                self.out.push(b'[');
                for (i, s) in list(src, m.name).into_iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.object(t, s, plan, None, children);
                }
                self.out.push(b']');
            }
            (Kind::Scalar, _) => value(&mut self.out, scalar(self.lookup.store, src, m.name)),
            (Kind::Obj(_) | Kind::List(_) | Kind::Conn(_), _) => {}
        }
    }

    /// The lines of every record of `items` that `keep` selects, as roots of type
    /// `ty` read through `src`; the number of roots. One pass over the store (a
    /// window matches a small part of it), and the output reserved for `bytes` per
    /// root up front.
    fn roots<T>(
        &mut self,
        items: &'a [T],
        keep: impl Fn(usize, &T) -> bool,
        bytes: usize,
        (ty, node, src): (&'static str, &[Selection], fn(&'a T) -> Src<'a>),
        count: &mut u64,
    ) -> u64 {
        let matching: Vec<&'a T> = (items.iter().enumerate())
            .filter(|&(i, t)| keep(i, t))
            .map(|(_, t)| t)
            .collect();
        self.out = self
            .buffers
            .take((matching.len() * bytes).next_power_of_two());
        let plan = plan(node, ty);
        for item in &matching {
            self.emit(ty, src(item), &plan, None, count);
        }
        matching.len() as u64
    }

    /// One line for `src`, then (depth first) the lines of its connections' nodes.
    fn emit(
        &mut self,
        ty: &'static str,
        src: Src<'a>,
        plan: &Plan,
        parent: Option<(&'static str, u64)>,
        count: &mut u64,
    ) {
        let mut children = Vec::new();
        self.object(ty, src, plan, parent, &mut children);
        self.out.push(b'\n');
        *count += 1;
        for c in children {
            for item in c.items {
                self.emit(c.ty, item, &c.plan, Some(c.parent), count);
            }
        }
    }
}

/// Bytes reserved per root object up front, so that the output (hundreds of MB for
/// a month of a large store) is not copied over and over as it grows. The
/// reservation is rounded up to a power of two: only the pages written are touched,
/// and outputs of similar size then ask for the same size, which the pool serves
/// with an earlier, expired result's buffer instead of fresh pages.
const ORDER_BYTES: usize = 4096;
const CUSTOMER_BYTES: usize = 768;

/// Render the whole bulk result, into a buffer from `buffers`: (JSONL bytes,
/// objectCount, rootObjectCount). `order_updated` is every order's `updated_at`
/// in store order ([`crate::sandbox::shopify::Shopify::order_updated_at`]): a
/// window's scan reads it rather than every order record (a cache miss each).
pub fn bulk_jsonl(
    buffers: &BytePool,
    order_updated: &[Ts],
    store: &StoreData,
    root: &Field,
    node: &[Selection],
    filter: &super::search::Filter,
) -> (Vec<u8>, u64, u64) {
    let mut w = Writer {
        lookup: Lookup::new(store),
        out: Vec::new(),
        buffers,
    };
    let mut count = 0u64;
    let roots = match root.name.as_str() {
        "customers" => w.roots(
            &store.customers,
            |_, c| filter.matches(c.id, c.created_at, c.updated_at),
            CUSTOMER_BYTES,
            ("Customer", node, Src::Customer),
            &mut count,
        ),
        _ => w.roots(
            &store.orders,
            |i, o| {
                order_updated
                    .get(i)
                    .is_none_or(|&u| filter.may_match_updated(u))
                    && filter.matches(o.id, o.created_at, o.updated_at)
            },
            ORDER_BYTES,
            ("Order", node, Src::Order),
            &mut count,
        ),
    };
    (w.out, count, roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::shopify::model::fmt_ts_utc;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_as_json_does_and_slashes_as_shopify_does() {
        for s in [
            "",
            "plain",
            "gid://shopify/Order/1",
            "quote \" back \\ nl \n cr \r tab \t bell \u{7} nul \u{0}",
            "ünïcödé ✓ 🦀",
        ] {
            let ours = text(|o| string(o, s));
            let back: String = serde_json::from_str(&ours).unwrap();
            assert_eq!(back, s, "{ours}");
            let theirs = serde_json::to_string(s).unwrap().replace('/', "\\/");
            // serde_json writes \u0007 and \u0000 the same way; the rest are short forms.
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn order_names_are_written_as_the_store_formats_them() {
        // `Order::name` is "#" and the number; the writer does it without a String.
        assert_eq!(text(|out| value(out, Scalar::OrderName(1007))), "\"#1007\"");
        assert_eq!(text(|out| value(out, Scalar::OrderName(0))), "\"#0\"");
    }

    #[test]
    fn decimals_keep_one_decimal_at_least_and_times_match_the_store_format() {
        let cases = [
            (1234, "\"12.34\""),
            (1230, "\"12.3\""),
            (1000, "\"10.0\""),
            (5, "\"0.05\""),
            (-250, "\"-2.5\""),
            (0, "\"0.0\""),
        ];
        for (cents, want) in cases {
            assert_eq!(text(|o| decimal(o, Money(cents))), want);
        }
        for ts in [0, 1_717_243_200, 1_780_000_001, 946_684_799] {
            assert_eq!(text(|o| time(o, ts)), format!("\"{}\"", fmt_ts_utc(ts)));
        }
    }
}
