//! REST JSON for the store's records, rendered on demand, in the shapes of the Admin
//! REST API: money as strings in orders, numbers in refund line items, `*_set` objects
//! with shop and presentment money, ISO-8601 times in the shop's offset.

use serde_json::{Value, json};

use super::model::{
    Address, Customer, InventoryLevel, LineItem, Money, Order, Product, Refund, StoreData, fmt_ts,
};

fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

/// `{"shop_money": …, "presentment_money": …}` for an order amount.
pub fn money_set(o: &Order, m: Money) -> Value {
    json!({
        "shop_money": {"amount": m.to_decimal(), "currency_code": o.currency.code()},
        "presentment_money": {"amount": m.convert(o.fx_ppm).to_decimal(), "currency_code": o.presentment_currency.code()},
    })
}

fn address_json(a: &Address, id: Option<u64>, customer_id: Option<u64>) -> Value {
    let mut v = json!({
        "first_name": &*a.first_name,
        "last_name": &*a.last_name,
        "name": format!("{} {}", a.first_name, a.last_name),
        "address1": &*a.address1,
        "address2": null,
        "city": &*a.city,
        "province_code": &*a.province_code,
        "country_code": &*a.country_code,
        "zip": &*a.zip,
        "phone": a.phone.as_deref(),
        "company": null,
    });
    if let (Some(id), Value::Object(m)) = (id, &mut v) {
        m.insert("id".into(), id.into());
        m.insert("customer_id".into(), customer_id.into());
        m.insert("default".into(), true.into());
    }
    v
}

pub fn customer_json(store: &StoreData, c: &Customer) -> Value {
    let addr = store.address(c.address);
    let last_order_name = c
        .last_order_id
        .and_then(|id| store.order_idx(id))
        .map(|i| store.orders[i].name());
    let consent_at =
        (c.email_consent != super::model::Consent::NotSubscribed).then(|| fmt_ts(c.created_at));
    json!({
        "id": c.id,
        "email": c.email.as_deref(),
        "created_at": fmt_ts(c.created_at),
        "updated_at": fmt_ts(c.updated_at),
        "first_name": &*c.first_name,
        "last_name": &*c.last_name,
        "orders_count": c.orders_count,
        "state": c.state.as_str(),
        "total_spent": c.total_spent.to_decimal(),
        "last_order_id": c.last_order_id,
        "last_order_name": last_order_name,
        "note": c.note.as_deref(),
        "verified_email": c.verified_email,
        "multipass_identifier": null,
        "tax_exempt": c.tax_exempt,
        "tags": &*c.tags,
        "currency": c.currency.code(),
        "phone": c.phone.as_deref(),
        "addresses": addr.map(|a| vec![address_json(a, c.address.map(|i| u64::from(i) + 1_000_000), Some(c.id))]).unwrap_or_default(),
        "tax_exemptions": [],
        "email_marketing_consent": c.email.as_ref().map(|_| json!({
            "state": c.email_consent.as_str(),
            "opt_in_level": "single_opt_in",
            "consent_updated_at": consent_at,
        })),
        "sms_marketing_consent": c.phone.as_ref().map(|_| json!({
            "state": "not_subscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": null,
            "consent_collected_from": "OTHER",
        })),
        "admin_graphql_api_id": gid("Customer", c.id),
        "default_address": addr.map(|a| address_json(a, c.address.map(|i| u64::from(i) + 1_000_000), Some(c.id))),
    })
}

pub fn line_item_json(store: &StoreData, o: &Order, li: &LineItem) -> Value {
    let product = store.product(li.product_id);
    let variant = store.variant(li.product_id, li.variant_id);
    let title = product
        .map(|p| p.title.to_string())
        .unwrap_or_else(|| "Item".into());
    let vtitle = variant.map(|v| v.title.to_string());
    let name = match vtitle.as_deref() {
        Some(v) if v != "Default Title" => format!("{title} - {v}"),
        _ => title.clone(),
    };
    let rate = f64::from(o.tax_rate_bp) / 10_000.0;
    json!({
        "id": li.id,
        "admin_graphql_api_id": gid("LineItem", li.id),
        "product_id": li.product_id,
        "variant_id": li.variant_id,
        "title": title,
        "variant_title": vtitle,
        "name": name,
        "sku": variant.map(|v| v.sku.to_string()),
        "vendor": product.map(|p| p.vendor.to_string()),
        "quantity": li.quantity,
        "current_quantity": li.quantity - o.refunds.iter().flat_map(|r| &r.lines).filter(|l| l.line_item_id == li.id).map(|l| l.quantity).sum::<u32>().min(li.quantity),
        "fulfillable_quantity": if o.fulfillment == super::model::Fulfillment::Fulfilled { 0 } else { li.quantity },
        "price": li.price.to_decimal(),
        "price_set": money_set(o, li.price),
        "total_discount": li.discount.to_decimal(),
        "total_discount_set": money_set(o, li.discount),
        "taxable": o.tax_rate_bp > 0,
        "requires_shipping": true,
        "gift_card": false,
        "tax_lines": if o.tax_rate_bp > 0 { vec![json!({
            "title": o.tax_title, "rate": rate, "price": li.tax.to_decimal(), "price_set": money_set(o, li.tax),
        })] } else { vec![] },
        "discount_allocations": if li.discount.0 > 0 { vec![json!({
            "amount": li.discount.to_decimal(), "amount_set": money_set(o, li.discount), "discount_application_index": 0,
        })] } else { vec![] },
    })
}

pub fn refund_json(store: &StoreData, o: &Order, r: &Refund) -> Value {
    let lines: Vec<Value> = r
        .lines
        .iter()
        .map(|l| {
            let li = o.line_items.iter().find(|x| x.id == l.line_item_id);
            json!({
                "id": l.id,
                "line_item_id": l.line_item_id,
                "quantity": l.quantity,
                "location_id": store.location_ids.first(),
                "restock_type": if r.restock { "return" } else { "no_restock" },
                "subtotal": l.subtotal.to_number(),
                "total_tax": l.tax.to_number(),
                "subtotal_set": money_set(o, l.subtotal),
                "total_tax_set": money_set(o, l.tax),
                "line_item": li.map(|li| line_item_json(store, o, li)),
            })
        })
        .collect();
    let adjustments: Vec<Value> = if r.shipping.0 > 0 {
        let neg = Money(-r.shipping.0);
        vec![json!({
            "id": r.adjustment_id,
            "order_id": o.id,
            "refund_id": r.id,
            "amount": neg.to_decimal(),
            "tax_amount": "0.00",
            "kind": "shipping_refund",
            "reason": "Shipping refund",
            "amount_set": money_set(o, neg),
            "tax_amount_set": money_set(o, Money::ZERO),
        })]
    } else {
        vec![]
    };
    let amount = r.amount();
    let presentment = amount.convert(o.fx_ppm);
    json!({
        "id": r.id,
        "order_id": o.id,
        "admin_graphql_api_id": gid("Refund", r.id),
        "created_at": fmt_ts(r.created_at),
        "processed_at": fmt_ts(r.created_at),
        "note": r.note.as_deref(),
        "user_id": null,
        "restock": r.restock,
        "duties": [],
        "total_duties_set": money_set(o, Money::ZERO),
        "additional_fees": [],
        "return": null,
        "refund_line_items": lines,
        "refund_shipping_lines": [],
        "order_adjustments": adjustments,
        "transactions": [{
            "id": r.transaction_id,
            "admin_graphql_api_id": gid("OrderTransaction", r.transaction_id),
            "order_id": o.id,
            "kind": "refund",
            "gateway": o.gateway,
            "status": if r.success { "success" } else { "failure" },
            "message": if r.success { "Refunded" } else { "Refund declined by the processor" },
            "amount": amount.to_decimal(),
            "currency": o.currency.code(),
            "parent_id": null,
            "created_at": fmt_ts(r.created_at),
            "processed_at": fmt_ts(r.created_at),
            "test": o.test,
            "authorization": null,
            "source_name": "web",
            "error_code": if r.success { Value::Null } else { "card_declined".into() },
            "total_unsettled_set": {
                "presentment_money": {"amount": "0.0", "currency": o.presentment_currency.code()},
                "shop_money": {"amount": "0.0", "currency": o.currency.code()},
            },
            "amount_set": {
                "shop_money": {"amount": amount.to_decimal(), "currency_code": o.currency.code()},
                "presentment_money": {"amount": presentment.to_decimal(), "currency_code": o.presentment_currency.code()},
            },
        }],
    })
}

pub fn order_json(store: &StoreData, o: &Order) -> Value {
    let customer = o
        .customer_id
        .and_then(|id| store.customer_idx(id))
        .map(|i| &store.customers[i]);
    let address = store
        .address(o.address)
        .map(|a| address_json(a, None, None));
    let total = o.total_price();
    let current_subtotal = o.subtotal() - o.refunded_subtotal();
    let current_tax = o.total_tax() - o.refunded_tax();
    let current_total = total - o.refunded_total();
    let outstanding = if o.financial.captured() || o.financial == super::model::Financial::Voided {
        Money::ZERO
    } else {
        total
    };
    let discount_codes: Vec<Value> = o
        .discount
        .iter()
        .map(|d| json!({"code": &*d.code, "amount": d.amount.to_decimal(), "type": d.kind}))
        .collect();
    let discount_applications: Vec<Value> = o
        .discount
        .iter()
        .map(|d| {
            let value = if d.kind == "percentage" { format!("{}.0", d.value) } else { Money(d.value).to_decimal() };
            json!({"type": "discount_code", "code": &*d.code, "value": value, "value_type": d.kind,
                   "allocation_method": "across", "target_selection": "all", "target_type": "line_item"})
        })
        .collect();
    let rate = f64::from(o.tax_rate_bp) / 10_000.0;
    let mut head = json!({
        "id": o.id,
        "admin_graphql_api_id": gid("Order", o.id),
        "name": o.name(),
        "order_number": o.number,
        "number": o.number - 1000,
        "email": o.email.as_deref(),
        "contact_email": o.email.as_deref(),
        "phone": o.phone.as_deref(),
        "created_at": fmt_ts(o.created_at),
        "updated_at": fmt_ts(o.updated_at),
        "processed_at": fmt_ts(o.processed_at),
        "cancelled_at": o.cancelled_at.map(fmt_ts),
        "cancel_reason": o.cancel_reason,
        "closed_at": o.closed_at.map(fmt_ts),
        "currency": o.currency.code(),
        "presentment_currency": o.presentment_currency.code(),
    });
    let money = json!({
        "total_price": total.to_decimal(),
        "total_price_set": money_set(o, total),
        "current_total_price": current_total.to_decimal(),
        "current_total_price_set": money_set(o, current_total),
        "subtotal_price": o.subtotal().to_decimal(),
        "subtotal_price_set": money_set(o, o.subtotal()),
        "current_subtotal_price": current_subtotal.to_decimal(),
        "current_subtotal_price_set": money_set(o, current_subtotal),
        "total_tax": o.total_tax().to_decimal(),
        "total_tax_set": money_set(o, o.total_tax()),
        "current_total_tax": current_tax.to_decimal(),
        "current_total_tax_set": money_set(o, current_tax),
        "total_discounts": o.total_discounts().to_decimal(),
        "total_discounts_set": money_set(o, o.total_discounts()),
        "current_total_discounts": o.total_discounts().to_decimal(),
        "total_line_items_price": o.total_line_items_price().to_decimal(),
        "total_line_items_price_set": money_set(o, o.total_line_items_price()),
        "total_shipping_price_set": money_set(o, o.shipping),
        "total_outstanding": outstanding.to_decimal(),
        "total_tip_received": "0.00",
        "total_weight": o.line_items.iter().map(|l| l.quantity * 250).sum::<u32>(),
    });
    let status = json!({
        "taxes_included": false,
        "financial_status": o.financial.as_str(),
        "fulfillment_status": o.fulfillment.rest(),
        "confirmed": true,
        "test": o.test,
        "tags": &*o.tags,
        "source_name": o.source_name,
        "gateway": o.gateway,
        "payment_gateway_names": [o.gateway],
    });
    // Two literals: one would exceed serde_json's macro recursion limit.
    let rest = json!({
        "buyer_accepts_marketing": o.buyer_accepts_marketing,
        "note": null,
        "note_attributes": [],
        "customer": customer.map(|c| customer_json(store, c)),
        "billing_address": address.clone(),
        "shipping_address": address,
        "line_items": o.line_items.iter().map(|li| line_item_json(store, o, li)).collect::<Vec<_>>(),
        "refunds": o.refunds.iter().map(|r| refund_json(store, o, r)).collect::<Vec<_>>(),
        "shipping_lines": [{
            "id": o.id / 7,
            "title": o.shipping_title,
            "code": o.shipping_title,
            "source": "shopify",
            "price": o.shipping.to_decimal(),
            "price_set": money_set(o, o.shipping),
            "discounted_price": o.shipping.to_decimal(),
            "discounted_price_set": money_set(o, o.shipping),
            "tax_lines": [],
        }],
        "tax_lines": if o.tax_rate_bp > 0 { vec![json!({
            "title": o.tax_title, "rate": rate, "price": o.total_tax().to_decimal(), "price_set": money_set(o, o.total_tax()),
        })] } else { vec![] },
        "discount_codes": discount_codes,
        "discount_applications": discount_applications,
    });
    for part in [money, status, rest] {
        if let (Value::Object(a), Value::Object(b)) = (&mut head, part) {
            a.extend(b);
        }
    }
    head
}

pub fn product_json(p: &Product) -> Value {
    json!({
        "id": p.id,
        "admin_graphql_api_id": gid("Product", p.id),
        "title": &*p.title,
        "vendor": &*p.vendor,
        "product_type": &*p.product_type,
        "handle": &*p.handle,
        "status": "active",
        "created_at": fmt_ts(p.created_at),
        "updated_at": fmt_ts(p.updated_at),
        "published_at": fmt_ts(p.created_at),
        "tags": "",
        "variants": p.variants.iter().enumerate().map(|(i, v)| json!({
            "id": v.id,
            "product_id": p.id,
            "admin_graphql_api_id": gid("ProductVariant", v.id),
            "title": &*v.title,
            "sku": &*v.sku,
            "price": v.price.to_decimal(),
            "position": i + 1,
            "inventory_item_id": v.inventory_item_id,
            "inventory_management": "shopify",
            "option1": &*v.title,
            "created_at": fmt_ts(p.created_at),
            "updated_at": fmt_ts(p.updated_at),
        })).collect::<Vec<_>>(),
    })
}

pub fn inventory_json(l: &InventoryLevel) -> Value {
    json!({
        "inventory_item_id": l.inventory_item_id,
        "location_id": l.location_id,
        "available": l.available,
        "updated_at": fmt_ts(l.updated_at),
        "admin_graphql_api_id": format!("gid://shopify/InventoryLevel/{}?inventory_item_id={}", l.location_id, l.inventory_item_id),
    })
}
