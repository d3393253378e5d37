//! The hand-built fixture store the default models are checked against to the cent
//! (`super::fixture_values`), landed the way the connectors land it.
//!
//! Fixture (shop currency USD, reporting currency EUR; ECB rates per EUR — USD 2.00 on
//! Thu 2026-03-05, 1.25 on Fri 03-06, 1.60 on Mon 03-09, so USD→EUR is 0.5, 0.8 and
//! 0.625, and the weekend carries Friday's 0.8):
//! - 1001 Ann, processed 03-05, presented in CAD, two versions (the first with 2× line
//!   2 and no refund): lines 40.00×2 + 25.50×1 = 105.50, discounts 10.00, shipping
//!   8.00, tax 9.55, total 113.05; refund on Sat 03-07: line 1 ×1 subtotal 36.00 tax
//!   3.24, shipping refund −8.00 tax −0.72, transaction 47.96 (plus a failed one).
//! - 1002 Bob, processed 03-06, 30.00 + shipping 5.00 + tax 2.40 = 37.40; paid, then
//!   cancelled and fully refunded on 03-09 (line 30.00 tax 2.40, shipping −5.00).
//! - 1003 Ann, voided before payment (cancelled): never counts.
//! - 1004 Ann, test order: never counts.
//! - 1006 guest checkout `ANN.Smith+promo@googlemail.com`, processed 03-09, 3×20.00.
//! - Ann also as a HubSpot contact `ANN.SMITH@GMAIL.COM` and as a Klaviyo profile with
//!   an Apple relay address sharing her phone in national format.

use lockstep::connectors::{hubspot, klaviyo, shopify::schema as shop};
use lockstep::warehouse::Warehouse;
use serde_json::{Value, json};

use super::{ECB_CSV, land, land_ecb};

fn with_parent(child: &Value, parent: &Value) -> Value {
    let mut obj = child.as_object().cloned().unwrap();
    obj.insert("_parent".into(), parent.clone());
    Value::Object(obj)
}

/// Land REST-shaped orders the way the Shopify connector unrolls them.
async fn land_orders(wh: &Warehouse, orders: &[Value], batch: &str) {
    let (mut lines, mut refunds, mut rlines, mut txs, mut adjs) =
        (vec![], vec![], vec![], vec![], vec![]);
    let arr = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for o in orders {
        let parent = json!({"id": o["id"], "updated_at": o["updated_at"]});
        for li in arr(o, "line_items") {
            lines.push(with_parent(&li, &parent));
        }
        for r in arr(o, "refunds") {
            let rp = json!({"id": o["id"], "updated_at": o["updated_at"], "refund_id": r["id"]});
            let mut slim = r.as_object().cloned().unwrap();
            for k in ["refund_line_items", "transactions", "order_adjustments"] {
                slim.remove(k);
            }
            refunds.push(with_parent(&Value::Object(slim), &parent));
            rlines.extend(
                arr(&r, "refund_line_items")
                    .iter()
                    .map(|x| with_parent(x, &rp)),
            );
            txs.extend(arr(&r, "transactions").iter().map(|x| with_parent(x, &rp)));
            adjs.extend(
                arr(&r, "order_adjustments")
                    .iter()
                    .map(|x| with_parent(x, &rp)),
            );
        }
    }
    land(wh, "shop", &shop::ORDERS, orders, batch).await;
    land(wh, "shop", &shop::ORDER_LINE_ITEMS, &lines, batch).await;
    land(wh, "shop", &shop::REFUNDS, &refunds, batch).await;
    land(wh, "shop", &shop::REFUND_LINE_ITEMS, &rlines, batch).await;
    land(wh, "shop", &shop::REFUND_TRANSACTIONS, &txs, batch).await;
    land(wh, "shop", &shop::ORDER_ADJUSTMENTS, &adjs, batch).await;
}

fn money(amount: &str, presentment: &str) -> Value {
    json!({"shop_money": {"amount": amount, "currency_code": "USD"},
           "presentment_money": {"amount": presentment, "currency_code": "CAD"}})
}

fn line(id: i64, price: &str, qty: i64, presentment: &str) -> Value {
    json!({"id": id, "product_id": 7001, "variant_id": 7101, "sku": format!("SKU-{id}"),
           "title": "Thing", "quantity": qty, "price": price,
           "price_set": money(price, presentment), "total_discount": "0.00", "taxable": true})
}

#[allow(clippy::too_many_arguments)]
fn order(
    id: i64,
    customer: Option<i64>,
    email: &str,
    processed: &str,
    updated: &str,
    financial: &str,
    totals: [&str; 4], // discounts, shipping, tax, total
    lines: Vec<Value>,
    refunds: Vec<Value>,
) -> Value {
    let [discounts, shipping, tax, total] = totals;
    json!({
        "id": id, "name": format!("#{id}"), "order_number": id, "email": email, "phone": null,
        "customer": customer.map(|c| json!({"id": c})),
        "created_at": processed, "processed_at": processed, "updated_at": updated,
        "cancelled_at": null, "cancel_reason": null, "financial_status": financial,
        "test": false, "source_name": "web", "tags": "", "currency": "USD",
        "presentment_currency": "USD",
        "total_line_items_price": "0.00", "subtotal_price": "0.00",
        "total_discounts": discounts, "total_tax": tax, "total_price": total,
        "current_total_price": total,
        "total_shipping_price_set": money(shipping, shipping),
        "total_price_set": money(total, total),
        "total_discounts_set": money(discounts, discounts),
        "total_tax_set": money(tax, tax),
        "taxes_included": false,
        "line_items": lines, "refunds": refunds,
    })
}

fn fixture_orders() -> (Vec<Value>, Vec<Value>) {
    // Order 1001, version 1: before the refund, line 2 still had quantity 2.
    let mut o1_v1 = order(
        1001,
        Some(501),
        "Ann.Smith@Gmail.com",
        "2026-03-05T15:00:00-05:00",
        "2026-03-05T15:00:00-05:00",
        "paid",
        ["10.00", "8.00", "11.00", "140.50"],
        vec![line(1, "40.00", 2, "54.00"), line(2, "25.50", 2, "34.43")],
        vec![],
    );
    o1_v1["presentment_currency"] = json!("CAD");
    let refund1 = json!({
        "id": 801, "order_id": 1001, "created_at": "2026-03-07T10:00:00Z",
        "processed_at": "2026-03-07T10:00:00Z", "note": "too big", "restock": true,
        "refund_line_items": [{"id": 901, "line_item_id": 1, "quantity": 1, "restock_type": "return",
            "subtotal": 36.00, "total_tax": 3.24,
            "subtotal_set": money("36.00", "48.60")}],
        "transactions": [
            {"id": 951, "order_id": 1001, "kind": "refund", "status": "success", "gateway": "shopify_payments",
             "amount": "47.96", "currency": "USD", "test": false, "processed_at": "2026-03-07T10:00:00Z"},
            {"id": 952, "order_id": 1001, "kind": "refund", "status": "failure", "gateway": "shopify_payments",
             "amount": "10.00", "currency": "USD", "test": false, "processed_at": "2026-03-07T09:00:00Z"}],
        "order_adjustments": [{"id": 971, "order_id": 1001, "refund_id": 801, "kind": "shipping_refund",
            "reason": "Shipping refund", "amount": "-8.00", "tax_amount": "-0.72"}],
    });
    let mut o1 = order(
        1001,
        Some(501),
        "Ann.Smith@Gmail.com",
        "2026-03-05T15:00:00-05:00",
        "2026-03-07T10:00:00Z",
        "partially_refunded",
        ["10.00", "8.00", "9.55", "113.05"],
        vec![line(1, "40.00", 2, "54.00"), line(2, "25.50", 1, "34.43")],
        vec![refund1],
    );
    o1["presentment_currency"] = json!("CAD");
    o1["total_price_set"] = money("113.05", "152.62");

    let refund2 = json!({
        "id": 802, "order_id": 1002, "created_at": "2026-03-09T09:00:00Z",
        "processed_at": "2026-03-09T09:00:00Z", "note": null, "restock": false,
        "refund_line_items": [{"id": 902, "line_item_id": 3, "quantity": 1, "restock_type": "cancel",
            "subtotal": 30.00, "total_tax": 2.40, "subtotal_set": money("30.00", "30.00")}],
        "transactions": [{"id": 953, "order_id": 1002, "kind": "refund", "status": "success",
            "gateway": "shopify_payments", "amount": "37.40", "currency": "USD", "test": false,
            "processed_at": "2026-03-09T09:00:00Z"}],
        "order_adjustments": [{"id": 972, "order_id": 1002, "refund_id": 802, "kind": "shipping_refund",
            "reason": "Shipping refund", "amount": "-5.00", "tax_amount": "0.00"}],
    });
    let mut o2 = order(
        1002,
        Some(502),
        "bob@example.com",
        "2026-03-06T12:00:00Z",
        "2026-03-09T09:00:00Z",
        "refunded",
        ["0.00", "5.00", "2.40", "37.40"],
        vec![line(3, "30.00", 1, "30.00")],
        vec![refund2],
    );
    o2["cancelled_at"] = json!("2026-03-09T09:00:00Z");
    o2["cancel_reason"] = json!("customer");

    let mut o3 = order(
        1003,
        Some(501),
        "ann.smith@gmail.com",
        "2026-03-06T13:00:00Z",
        "2026-03-06T14:00:00Z",
        "voided",
        ["0.00", "0.00", "0.00", "50.00"],
        vec![line(4, "50.00", 1, "50.00")],
        vec![],
    );
    o3["cancelled_at"] = json!("2026-03-06T14:00:00Z");
    o3["cancel_reason"] = json!("declined");

    let mut o4 = order(
        1004,
        Some(501),
        "ann.smith@gmail.com",
        "2026-03-06T15:00:00Z",
        "2026-03-06T15:00:00Z",
        "paid",
        ["0.00", "0.00", "0.00", "99.00"],
        vec![line(5, "99.00", 1, "99.00")],
        vec![],
    );
    o4["test"] = json!(true);

    let o6 = order(
        1006,
        None,
        " ANN.Smith+promo@googlemail.com ",
        "2026-03-09T15:00:00Z",
        "2026-03-09T15:00:00Z",
        "paid",
        ["0.00", "0.00", "0.00", "60.00"],
        vec![line(6, "20.00", 3, "20.00")],
        vec![],
    );
    (vec![o1_v1, o3.clone(), o4.clone()], vec![o1, o2, o6])
}

pub(super) fn customer(
    id: i64,
    email: &str,
    phone: Option<&str>,
    tags: &str,
    updated: &str,
) -> Value {
    json!({"id": id, "email": email, "phone": phone, "first_name": "F", "last_name": "L",
           "state": "enabled", "verified_email": true, "tags": tags, "currency": "USD",
           "orders_count": 0, "total_spent": "0.00",
           "email_marketing_consent": {"state": "subscribed"},
           "default_address": {"country_code": "US"},
           "created_at": "2026-01-01T00:00:00Z", "updated_at": updated})
}

pub(super) async fn land_fixture(wh: &Warehouse) {
    land_ecb(wh, ECB_CSV).await;
    land(
        wh,
        "shop",
        &shop::CUSTOMERS,
        &[
            customer(
                501,
                "old.ann@example.com",
                None,
                "wholesale",
                "2026-03-01T00:00:00Z",
            ),
            customer(
                502,
                "bob@example.com",
                None,
                "newsletter",
                "2026-03-06T12:00:00Z",
            ),
            customer(
                504,
                "carl@example.org",
                Some("+44 20 7946 0958"),
                "",
                "2026-02-01T00:00:00Z",
            ),
        ],
        "b1",
    )
    .await;
    land(
        wh,
        "shop",
        &shop::CUSTOMERS,
        &[customer(
            501,
            "Ann.Smith@Gmail.com",
            Some("+1 415-555-2671"),
            "vip, wholesale",
            "2026-03-10T00:00:00Z",
        )],
        "b2",
    )
    .await;
    let (first, second) = fixture_orders();
    land_orders(wh, &first, "b1").await;
    land_orders(wh, &second, "b2").await;
    land(wh, "shop", &shop::PRODUCTS, &[
        json!({"id": 7001, "title": "Thing", "vendor": "V", "product_type": "T", "status": "active",
               "tags": "", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}),
    ], "b1").await;
    land(wh, "shop", &shop::PRODUCT_VARIANTS, &[
        json!({"id": 7101, "product_id": 7001, "sku": "SKU", "title": "Default", "price": "39.00",
               "inventory_item_id": 7201, "updated_at": "2026-01-01T00:00:00Z",
               "_parent": {"id": 7001, "updated_at": "2026-01-01T00:00:00Z"}}),
        json!({"id": 7101, "product_id": 7001, "sku": "SKU", "title": "Default", "price": "40.00",
               "inventory_item_id": 7201, "updated_at": "2026-02-01T00:00:00Z",
               "_parent": {"id": 7001, "updated_at": "2026-02-01T00:00:00Z"}}),
    ], "b1").await;
    land(wh, "shop", &shop::INVENTORY_LEVELS, &[
        json!({"inventory_item_id": 7201, "location_id": 1, "available": 5, "updated_at": "2026-03-01T00:00:00Z"}),
        json!({"inventory_item_id": 7201, "location_id": 1, "available": 3, "updated_at": "2026-03-02T00:00:00Z"}),
    ], "b1").await;
    land(wh, "hubspot", &hubspot::schema::CONTACTS, &[
        json!({"id": "9001", "archived": false, "createdAt": "2026-02-01T00:00:00Z",
               "updatedAt": "2026-03-12T00:00:00Z",
               "properties": {"email": "ANN.SMITH@GMAIL.COM", "firstname": "Annie", "lastname": "Smith",
                              "phone": null, "primary_tag": "retail", "total_spent": "12.50",
                              "orders_count": "1"}}),
    ], "b1").await;
    land(wh, "klaviyo", &klaviyo::schema::PROFILES, &[
        json!({"id": "01ABC", "type": "profile",
               "attributes": {"email": "x7kq2@privaterelay.appleid.com", "phone_number": "(415) 555-2671",
                              "first_name": null, "last_name": null,
                              "created": "2026-02-01T00:00:00Z", "updated": "2026-03-09T00:00:00Z"}}),
    ], "b1").await;
}
