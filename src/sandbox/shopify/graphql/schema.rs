//! The slice of the Admin GraphQL schema the sandbox serves: which fields exist on
//! which type, and whether each is a scalar, an object, a list of objects or a
//! connection. Queries are validated against it before anything runs, so a field
//! Shopify would refuse is refused here too (with Shopify's message shape).

use super::parse::{Field, Selection, fields_for};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Scalar,
    Obj(&'static str),
    List(&'static str),
    Conn(&'static str),
}

use Kind::{Conn, List, Obj, Scalar};

const MONEY_BAG: Kind = Obj("MoneyBag");

const CUSTOMER: &[(&str, Kind)] = &[
    ("id", Scalar),
    ("legacyResourceId", Scalar),
    ("email", Scalar),
    ("firstName", Scalar),
    ("lastName", Scalar),
    ("displayName", Scalar),
    ("phone", Scalar),
    ("createdAt", Scalar),
    ("updatedAt", Scalar),
    ("state", Scalar),
    ("tags", Scalar),
    ("note", Scalar),
    ("numberOfOrders", Scalar),
    ("amountSpent", Obj("MoneyV2")),
    ("verifiedEmail", Scalar),
    ("taxExempt", Scalar),
    ("lastOrder", Obj("Order")),
    ("defaultAddress", Obj("MailingAddress")),
    (
        "emailMarketingConsent",
        Obj("CustomerEmailMarketingConsentState"),
    ),
];
const ORDER: &[(&str, Kind)] = &[
    ("id", Scalar),
    ("legacyResourceId", Scalar),
    ("name", Scalar),
    ("number", Scalar),
    ("email", Scalar),
    ("phone", Scalar),
    ("createdAt", Scalar),
    ("updatedAt", Scalar),
    ("processedAt", Scalar),
    ("cancelledAt", Scalar),
    ("cancelReason", Scalar),
    ("closedAt", Scalar),
    ("closed", Scalar),
    ("test", Scalar),
    ("currencyCode", Scalar),
    ("presentmentCurrencyCode", Scalar),
    ("displayFinancialStatus", Scalar),
    ("displayFulfillmentStatus", Scalar),
    ("tags", Scalar),
    ("sourceName", Scalar),
    ("discountCodes", Scalar),
    ("note", Scalar),
    ("taxesIncluded", Scalar),
    ("totalPriceSet", MONEY_BAG),
    ("subtotalPriceSet", MONEY_BAG),
    ("totalTaxSet", MONEY_BAG),
    ("totalDiscountsSet", MONEY_BAG),
    ("totalShippingPriceSet", MONEY_BAG),
    ("totalRefundedSet", MONEY_BAG),
    ("totalRefundedShippingSet", MONEY_BAG),
    ("currentTotalPriceSet", MONEY_BAG),
    ("currentSubtotalPriceSet", MONEY_BAG),
    ("currentTotalTaxSet", MONEY_BAG),
    ("currentTotalDiscountsSet", MONEY_BAG),
    ("customer", Obj("Customer")),
    ("billingAddress", Obj("MailingAddress")),
    ("shippingAddress", Obj("MailingAddress")),
    ("lineItems", Conn("LineItem")),
    ("refunds", List("Refund")),
    ("taxLines", List("TaxLine")),
];
const LINE_ITEM: &[(&str, Kind)] = &[
    ("id", Scalar),
    ("name", Scalar),
    ("title", Scalar),
    ("sku", Scalar),
    ("quantity", Scalar),
    ("currentQuantity", Scalar),
    ("refundableQuantity", Scalar),
    ("vendor", Scalar),
    ("taxable", Scalar),
    ("variant", Obj("ProductVariant")),
    ("product", Obj("Product")),
    ("originalUnitPriceSet", MONEY_BAG),
    ("originalTotalSet", MONEY_BAG),
    ("totalDiscountSet", MONEY_BAG),
    ("discountedTotalSet", MONEY_BAG),
    ("taxLines", List("TaxLine")),
];
const REFUND: &[(&str, Kind)] = &[
    ("id", Scalar),
    ("legacyResourceId", Scalar),
    ("createdAt", Scalar),
    ("updatedAt", Scalar),
    ("note", Scalar),
    ("totalRefundedSet", MONEY_BAG),
    ("refundLineItems", Conn("RefundLineItem")),
    ("transactions", Conn("OrderTransaction")),
    ("orderAdjustments", Conn("OrderAdjustment")),
];
/// Refund-level adjustments (a refunded shipping amount shows here, negative).
const ORDER_ADJUSTMENT: &[(&str, Kind)] = &[
    ("id", Scalar),
    ("reason", Scalar),
    ("amountSet", MONEY_BAG),
    ("taxAmountSet", MONEY_BAG),
];
const REFUND_LINE_ITEM: &[(&str, Kind)] = &[
    ("id", Scalar),
    ("quantity", Scalar),
    ("restockType", Scalar),
    ("restocked", Scalar),
    ("subtotalSet", MONEY_BAG),
    ("totalTaxSet", MONEY_BAG),
    ("priceSet", MONEY_BAG),
    ("lineItem", Obj("LineItem")),
];
const TRANSACTION: &[(&str, Kind)] = &[
    ("id", Scalar),
    ("kind", Scalar),
    ("status", Scalar),
    ("gateway", Scalar),
    ("amountSet", MONEY_BAG),
    ("processedAt", Scalar),
    ("createdAt", Scalar),
    ("test", Scalar),
    ("errorCode", Scalar),
];
const MONEY_BAG_FIELDS: &[(&str, Kind)] = &[
    ("shopMoney", Obj("MoneyV2")),
    ("presentmentMoney", Obj("MoneyV2")),
];
const MONEY_V2: &[(&str, Kind)] = &[("amount", Scalar), ("currencyCode", Scalar)];
const TAX_LINE: &[(&str, Kind)] = &[
    ("title", Scalar),
    ("rate", Scalar),
    ("ratePercentage", Scalar),
    ("priceSet", MONEY_BAG),
];
const ADDRESS: &[(&str, Kind)] = &[
    ("firstName", Scalar),
    ("lastName", Scalar),
    ("name", Scalar),
    ("address1", Scalar),
    ("address2", Scalar),
    ("city", Scalar),
    ("provinceCode", Scalar),
    ("countryCodeV2", Scalar),
    ("zip", Scalar),
    ("phone", Scalar),
];
const VARIANT: &[(&str, Kind)] = &[
    ("id", Scalar),
    ("legacyResourceId", Scalar),
    ("sku", Scalar),
    ("title", Scalar),
    ("price", Scalar),
];
const PRODUCT: &[(&str, Kind)] = &[
    ("id", Scalar),
    ("legacyResourceId", Scalar),
    ("title", Scalar),
    ("vendor", Scalar),
    ("productType", Scalar),
    ("handle", Scalar),
];
const CONSENT: &[(&str, Kind)] = &[
    ("marketingState", Scalar),
    ("marketingOptInLevel", Scalar),
    ("consentUpdatedAt", Scalar),
];
/// Root connections a bulk query may start from.
const QUERY_ROOT: &[(&str, Kind)] = &[("customers", Conn("Customer")), ("orders", Conn("Order"))];

fn fields_of(ty: &str) -> &'static [(&'static str, Kind)] {
    match ty {
        "Customer" => CUSTOMER,
        "Order" => ORDER,
        "LineItem" => LINE_ITEM,
        "Refund" => REFUND,
        "RefundLineItem" => REFUND_LINE_ITEM,
        "OrderTransaction" => TRANSACTION,
        "OrderAdjustment" => ORDER_ADJUSTMENT,
        "MoneyBag" => MONEY_BAG_FIELDS,
        "MoneyV2" => MONEY_V2,
        "TaxLine" => TAX_LINE,
        "MailingAddress" => ADDRESS,
        "ProductVariant" => VARIANT,
        "Product" => PRODUCT,
        "CustomerEmailMarketingConsentState" => CONSENT,
        "QueryRoot" => QUERY_ROOT,
        _ => &[],
    }
}

pub fn kind(ty: &str, field: &str) -> Option<Kind> {
    if field == "__typename" {
        return Some(Scalar);
    }
    fields_of(ty)
        .iter()
        .find(|(n, _)| *n == field)
        .map(|(_, k)| *k)
}

/// The node selection of a connection field: `edges { node { … } }` or `nodes { … }`.
pub fn node_selection(f: &Field) -> Option<&[Selection]> {
    for s in fields_for(&f.selections, "") {
        if s.name == "nodes" {
            return Some(&s.selections);
        }
        if s.name == "edges" {
            return fields_for(&s.selections, "")
                .into_iter()
                .find(|n| n.name == "node")
                .map(|n| n.selections.as_slice());
        }
    }
    None
}

/// Validate a selection on `ty`; `depth` counts connections (bulk allows 2 levels).
pub fn validate(ty: &str, sels: &[Selection], depth: usize) -> Result<(), String> {
    for f in fields_for(sels, ty) {
        let Some(k) = kind(ty, &f.name) else {
            return Err(format!("Field '{}' doesn't exist on type '{ty}'", f.name));
        };
        match k {
            Scalar if !f.selections.is_empty() => {
                return Err(format!(
                    "Selections can't be made on scalars (field '{}' returns a scalar)",
                    f.name
                ));
            }
            Scalar => {}
            Obj(t) | List(t) => {
                if f.selections.is_empty() {
                    return Err(format!(
                        "Field must have selections (field '{}' returns {t} but has no selections)",
                        f.name
                    ));
                }
                validate(t, &f.selections, depth)?;
            }
            Conn(t) => {
                if depth >= 2 {
                    return Err(
                        "Bulk queries cannot contain more than 2 levels of nested connections"
                            .into(),
                    );
                }
                let node = node_selection(f).ok_or_else(|| {
                    format!(
                        "Connection '{}' must select edges {{ node }} or nodes",
                        f.name
                    )
                })?;
                validate(t, node, depth + 1)?;
            }
        }
    }
    Ok(())
}
