//! The lines of a Shopify bulk result, as borrowed structs: one struct per line type
//! (`__typename`, which our queries select first, says which), each holding just the
//! fields that type carries, so a line is parsed once into a small struct, with
//! strings borrowed from the line wherever they have no escapes.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::Error as _;
use serde_json::value::RawValue;

/// A GraphQL global id, read as its numeric tail (`gid://shopify/Order/123` → 123)
/// without allocating.
#[derive(Debug, Clone, Copy)]
pub struct Gid(pub i64);

impl<'de> Deserialize<'de> for Gid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Gid, D::Error> {
        // Read as the raw token: Shopify's files escape the slashes
        // (`"gid:\/\/shopify\/Order\/123"`), and a string visitor would first
        // unescape every id into a scratch copy.
        let raw = <&RawValue>::deserialize(d)?;
        gid_of(raw.get())
            .map(Gid)
            .ok_or_else(|| D::Error::custom(format!("{} is not a gid", raw.get())))
    }
}

/// The id in a gid token: the digits after the last `/` (escaped or not) of a
/// string, before any `?query`; or a bare JSON integer.
fn gid_of(token: &str) -> Option<i64> {
    let Some(text) = token.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return token.parse().ok();
    };
    // The common case, scanned back from the end: `…/123"`, `…/123?x=1"`, `"123"`.
    let bytes = text.as_bytes();
    let end = memchr::memrchr(b'?', bytes)
        .filter(|&q| !bytes[q..].contains(&b'/'))
        .unwrap_or(bytes.len());
    let start = bytes[..end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    if start < end && (start == 0 || bytes[start - 1] == b'/') {
        return text[start..end].parse().ok();
    }
    // Escapes other than `\/` (never seen in ids, but valid JSON): unescape first.
    let text: String = serde_json::from_str(token).ok()?;
    crate::extract::columns::parse_gid(&text)
}

/// A JSON string borrowed from the line when it has no escapes (serde's own `Cow`
/// borrows only as a direct field, not inside `Option` or `Vec`).
pub struct Str<'a>(Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Str<'a>, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

pub(super) type Text<'a> = Option<Str<'a>>;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Money<'a> {
    #[serde(borrow, default)]
    pub(super) amount: Text<'a>,
    #[serde(borrow, default)]
    pub(super) currency_code: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Bag<'a> {
    #[serde(borrow, default)]
    pub(super) shop_money: Option<Money<'a>>,
    #[serde(borrow, default)]
    pub(super) presentment_money: Option<Money<'a>>,
}

#[derive(Deserialize)]
pub(super) struct IdOnly {
    pub(super) id: Option<Gid>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Consent<'a> {
    #[serde(borrow, default)]
    pub(super) marketing_state: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Address<'a> {
    #[serde(borrow, default)]
    pub(super) country_code_v2: Text<'a>,
}

/// The line's `__typename`. Our queries select it first, so Shopify writes it as
/// the line's first key and it is read without parsing the line; a line written
/// any other way is read in full for it.
pub(super) fn typename(text: &str) -> serde_json::Result<Cow<'_, str>> {
    const FIRST: &str = "{\"__typename\":\"";
    if let Some(rest) = text.strip_prefix(FIRST)
        && let Some(end) = rest.find('"')
        && !rest[..end].contains('\\')
    {
        return Ok(Cow::Borrowed(&rest[..end]));
    }
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(rename = "__typename", borrow)]
        typename: Str<'a>,
    }
    let head: Head = serde_json::from_str(text)?;
    Ok(Cow::Owned(head.typename.to_string()))
}

/// A `Customer` line.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CustomerLine<'a> {
    #[serde(default)]
    pub(super) id: Option<Gid>,
    #[serde(borrow, default)]
    pub(super) email: Text<'a>,
    #[serde(borrow, default)]
    pub(super) phone: Text<'a>,
    #[serde(borrow, default)]
    pub(super) first_name: Text<'a>,
    #[serde(borrow, default)]
    pub(super) last_name: Text<'a>,
    #[serde(borrow, default)]
    pub(super) state: Text<'a>,
    #[serde(default)]
    pub(super) verified_email: Option<bool>,
    #[serde(borrow, default)]
    pub(super) tags: Option<Vec<Str<'a>>>,
    #[serde(borrow, default)]
    pub(super) number_of_orders: Text<'a>,
    #[serde(borrow, default)]
    pub(super) amount_spent: Option<Money<'a>>,
    #[serde(borrow, default)]
    pub(super) email_marketing_consent: Option<Consent<'a>>,
    #[serde(borrow, default)]
    pub(super) default_address: Option<Address<'a>>,
    #[serde(borrow, default)]
    pub(super) created_at: Text<'a>,
    #[serde(borrow, default)]
    pub(super) updated_at: Text<'a>,
}

/// An `Order` line (its refunds are a list inside it).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderLine<'a> {
    #[serde(default)]
    pub(super) id: Option<Gid>,
    #[serde(borrow, default)]
    pub(super) name: Text<'a>,
    #[serde(default)]
    pub(super) number: Option<i64>,
    #[serde(borrow, default)]
    pub(super) email: Text<'a>,
    #[serde(borrow, default)]
    pub(super) phone: Text<'a>,
    #[serde(default)]
    pub(super) customer: Option<IdOnly>,
    #[serde(borrow, default)]
    pub(super) created_at: Text<'a>,
    #[serde(borrow, default)]
    pub(super) processed_at: Text<'a>,
    #[serde(borrow, default)]
    pub(super) updated_at: Text<'a>,
    #[serde(borrow, default)]
    pub(super) cancelled_at: Text<'a>,
    #[serde(borrow, default)]
    pub(super) cancel_reason: Text<'a>,
    #[serde(borrow, default)]
    pub(super) closed_at: Text<'a>,
    #[serde(borrow, default)]
    pub(super) display_financial_status: Text<'a>,
    #[serde(borrow, default)]
    pub(super) display_fulfillment_status: Text<'a>,
    #[serde(default)]
    pub(super) test: Option<bool>,
    #[serde(borrow, default)]
    pub(super) source_name: Text<'a>,
    #[serde(borrow, default)]
    pub(super) tags: Option<Vec<Str<'a>>>,
    #[serde(borrow, default)]
    pub(super) currency_code: Text<'a>,
    #[serde(borrow, default)]
    pub(super) presentment_currency_code: Text<'a>,
    #[serde(borrow, default)]
    pub(super) subtotal_price_set: Option<Bag<'a>>,
    #[serde(borrow, default)]
    pub(super) total_discounts_set: Option<Bag<'a>>,
    #[serde(borrow, default)]
    pub(super) total_tax_set: Option<Bag<'a>>,
    #[serde(borrow, default)]
    pub(super) total_shipping_price_set: Option<Bag<'a>>,
    #[serde(borrow, default)]
    pub(super) total_price_set: Option<Bag<'a>>,
    #[serde(borrow, default)]
    pub(super) current_total_price_set: Option<Bag<'a>>,
    #[serde(default)]
    pub(super) taxes_included: Option<bool>,
    #[serde(borrow, default)]
    pub(super) discount_codes: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) tax_lines: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) refunds: Option<Vec<&'a RawValue>>,
}

/// A `LineItem` line, child of its order.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LineItemLine<'a> {
    #[serde(rename = "__parentId", default)]
    pub(super) parent_id: Option<Gid>,
    #[serde(default)]
    pub(super) id: Option<Gid>,
    #[serde(default)]
    pub(super) product: Option<IdOnly>,
    #[serde(default)]
    pub(super) variant: Option<IdOnly>,
    #[serde(borrow, default)]
    pub(super) sku: Text<'a>,
    #[serde(borrow, default)]
    pub(super) title: Text<'a>,
    #[serde(default)]
    pub(super) quantity: Option<i64>,
    #[serde(borrow, default)]
    pub(super) original_unit_price_set: Option<Bag<'a>>,
    #[serde(borrow, default)]
    pub(super) total_discount_set: Option<Bag<'a>>,
    #[serde(default)]
    pub(super) taxable: Option<bool>,
    #[serde(borrow, default)]
    pub(super) tax_lines: Option<&'a RawValue>,
}

/// A `RefundLineItem` line, child of its refund.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RefundLineItemLine<'a> {
    #[serde(rename = "__parentId", default)]
    pub(super) parent_id: Option<Gid>,
    #[serde(default)]
    pub(super) id: Option<Gid>,
    #[serde(default)]
    pub(super) line_item: Option<IdOnly>,
    #[serde(default)]
    pub(super) quantity: Option<i64>,
    #[serde(borrow, default)]
    pub(super) restock_type: Text<'a>,
    #[serde(default)]
    pub(super) restocked: Option<bool>,
    #[serde(borrow, default)]
    pub(super) subtotal_set: Option<Bag<'a>>,
    #[serde(borrow, default)]
    pub(super) total_tax_set: Option<Bag<'a>>,
}

/// An `OrderTransaction` line, child of its refund.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TransactionLine<'a> {
    #[serde(rename = "__parentId", default)]
    pub(super) parent_id: Option<Gid>,
    #[serde(default)]
    pub(super) id: Option<Gid>,
    #[serde(borrow, default)]
    pub(super) kind: Text<'a>,
    #[serde(borrow, default)]
    pub(super) status: Text<'a>,
    #[serde(borrow, default)]
    pub(super) gateway: Text<'a>,
    #[serde(borrow, default)]
    pub(super) amount_set: Option<Bag<'a>>,
    #[serde(borrow, default)]
    pub(super) processed_at: Text<'a>,
    #[serde(default)]
    pub(super) test: Option<bool>,
}

/// An `OrderAdjustment` line, child of its refund.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AdjustmentLine<'a> {
    #[serde(rename = "__parentId", default)]
    pub(super) parent_id: Option<Gid>,
    #[serde(default)]
    pub(super) id: Option<Gid>,
    #[serde(borrow, default)]
    pub(super) reason: Text<'a>,
    #[serde(borrow, default)]
    pub(super) amount_set: Option<Bag<'a>>,
    #[serde(borrow, default)]
    pub(super) tax_amount_set: Option<Bag<'a>>,
}

/// A refund, inline in its order's line.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RefundInline<'a> {
    pub(super) id: Option<Gid>,
    #[serde(borrow, default)]
    pub(super) created_at: Text<'a>,
    #[serde(borrow, default)]
    pub(super) note: Text<'a>,
}

pub(super) fn shop<'b>(bag: &'b Option<Bag<'_>>) -> Option<&'b str> {
    bag.as_ref()?.shop_money.as_ref()?.amount.as_deref()
}

pub(super) fn presentment<'b>(bag: &'b Option<Bag<'_>>) -> Option<&'b str> {
    bag.as_ref()?.presentment_money.as_ref()?.amount.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gids_are_read_from_escaped_plain_and_numeric_tokens() {
        let cases = [
            (r#""gid:\/\/shopify\/Order\/123""#, Some(123)),
            (r#""gid://shopify/Order/123""#, Some(123)),
            (r#""gid:\/\/shopify\/LineItem\/7?x=1""#, Some(7)),
            (r#""gid:\/\/shopify\/Order\/\u0031\u0032""#, Some(12)),
            (r#""42""#, Some(42)),
            ("42", Some(42)),
            (r#""gid:\/\/shopify\/Order\/""#, None),
            (r#""gid://shopify/Order/abc""#, None),
            ("4.5", None),
        ];
        for (token, want) in cases {
            assert_eq!(gid_of(token), want, "{token}");
            let parsed: Result<Gid, _> = serde_json::from_str(token);
            assert_eq!(parsed.ok().map(|g| g.0), want, "{token}");
        }
        let none: Option<Gid> = serde_json::from_str("null").unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn the_typename_is_peeked_first_and_read_in_full_otherwise() {
        let first = r#"{"__typename":"Order","id":"gid:\/\/shopify\/Order\/1"}"#;
        assert!(matches!(typename(first).unwrap(), Cow::Borrowed("Order")));
        let later = r#"{"id":1, "__typename" : "LineItem"}"#;
        assert_eq!(typename(later).unwrap(), "LineItem");
        let escaped = r#"{"__typename":"Line\u0049tem"}"#;
        assert_eq!(typename(escaped).unwrap(), "LineItem");
        assert!(typename(r#"{"id":1}"#).is_err());
        assert!(typename("{\"__typename\":\"Ord").is_err());
    }
}
