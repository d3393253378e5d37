//! The lines of a Shopify bulk result, as borrowed structs: one struct holds every
//! field any of our queries selects (`__typename` says which apply), so each line is
//! parsed once, with strings borrowed from the line wherever they have no escapes.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// A GraphQL global id, read as its numeric tail (`gid://shopify/Order/123` → 123)
/// without allocating.
#[derive(Debug, Clone, Copy)]
pub struct Gid(pub i64);

impl<'de> Deserialize<'de> for Gid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Gid, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Gid;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a gid://shopify/... id")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Gid, E> {
                let tail = s.rsplit('/').next().unwrap_or(s);
                let tail = tail.split('?').next().unwrap_or(tail);
                tail.parse()
                    .map(Gid)
                    .map_err(|_| E::custom(format!("{s:?} is not a gid")))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Gid, E> {
                Ok(Gid(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Gid, E> {
                i64::try_from(n)
                    .map(Gid)
                    .map_err(|_| E::custom("id out of range"))
            }
        }
        d.deserialize_any(V)
    }
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

/// Every field any line type of our queries carries; `__typename` says which apply.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Line<'a> {
    #[serde(rename = "__typename", borrow)]
    pub(super) typename: Str<'a>,
    #[serde(rename = "__parentId", default)]
    pub(super) parent_id: Option<Gid>,
    #[serde(default)]
    pub(super) id: Option<Gid>,
    // Customer
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
    // Order
    #[serde(borrow, default)]
    pub(super) name: Text<'a>,
    #[serde(default)]
    pub(super) number: Option<i64>,
    #[serde(default)]
    pub(super) customer: Option<IdOnly>,
    #[serde(borrow, default)]
    pub(super) processed_at: Text<'a>,
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
    // LineItem
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
    // RefundLineItem (`totalTaxSet` is shared with Order)
    #[serde(default)]
    pub(super) line_item: Option<IdOnly>,
    #[serde(borrow, default)]
    pub(super) restock_type: Text<'a>,
    #[serde(default)]
    pub(super) restocked: Option<bool>,
    #[serde(borrow, default)]
    pub(super) subtotal_set: Option<Bag<'a>>,
    // OrderTransaction (`processedAt`, `test` shared)
    #[serde(borrow, default)]
    pub(super) kind: Text<'a>,
    #[serde(borrow, default)]
    pub(super) status: Text<'a>,
    #[serde(borrow, default)]
    pub(super) gateway: Text<'a>,
    #[serde(borrow, default)]
    pub(super) amount_set: Option<Bag<'a>>,
    // OrderAdjustment (`amountSet` shared)
    #[serde(borrow, default)]
    pub(super) reason: Text<'a>,
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
