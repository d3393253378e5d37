//! The default models in `models/` over a hand-built fixture store, values checked to
//! the cent against hand-computed figures.
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

use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use lockstep::config::Project;
use lockstep::connectors::{hubspot, klaviyo, shopify::schema as shop};
use lockstep::extract::EntitySchema;
use lockstep::extract::columns::{Stamp, to_batch};
use lockstep::model;
use lockstep::warehouse::{TableName, Warehouse};
use serde_json::{Value, json};

/// ECB reference rates in the ECB CSV format (newest first, trailing comma, N/A).
const ECB_CSV: &str = "Date,USD,GBP,JPY,\n\
2026-03-09,1.6000,0.8000,N/A,\n\
2026-03-06,1.2500,0.8500,160.00,\n\
2026-03-05,2.0000,0.9000,161.00,\n";

/// Rates for the sandbox store: one USD publication long before any order.
const SANDBOX_ECB_CSV: &str = "Date,USD,\n2000-01-03,1.1000,\n";

/// Copy the repository's default models (SQL and YAML, not its seeds) to
/// `<dir>/models`, with `ecb_csv` as the project's ECB seed: the tests' rates stay the
/// same whether the rates reach `raw_seeds.ecb_rates` through a seed loader or
/// through `land_ecb`.
fn default_models_with_seed(dir: &std::path::Path, ecb_csv: &str) {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap();
            if path.is_dir() {
                if name != "seeds" {
                    copy(&path, &to.join(name));
                }
            } else if path
                .extension()
                .is_some_and(|e| e == "sql" || e == "yml" || e == "yaml")
            {
                std::fs::copy(&path, to.join(name)).unwrap();
            }
        }
    }
    let models = dir.join("models");
    copy(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models")),
        &models,
    );
    std::fs::create_dir_all(models.join("seeds")).unwrap();
    std::fs::write(models.join("seeds/ecb_rates.csv"), ecb_csv).unwrap();
}

/// The ECB reference-rate CSV (wide: `Date,<currency>...`) as long rows
/// `(rate_date, currency, rate)`, all text: what a seed importer lands as
/// `raw_seeds.ecb_rates`.
fn ecb_long(csv: &str) -> Vec<(String, String, String)> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap().split(',').map(str::trim).collect();
    let mut out = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        for (currency, rate) in header.iter().zip(&cells).skip(1) {
            if !currency.is_empty() && !rate.is_empty() {
                out.push((cells[0].to_string(), currency.to_string(), rate.to_string()));
            }
        }
    }
    out
}

async fn land_ecb(wh: &Warehouse, csv: &str) {
    let rows = ecb_long(csv);
    let schema = Arc::new(Schema::new(vec![
        Field::new("rate_date", DataType::Utf8, true),
        Field::new("currency", DataType::Utf8, true),
        Field::new("rate", DataType::Utf8, true),
    ]));
    let col = |f: fn(&(String, String, String)) -> &str| {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as Arc<dyn Array>
    };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![col(|r| &r.0), col(|r| &r.1), col(|r| &r.2)],
    )
    .unwrap();
    wh.overwrite(
        &TableName::new("raw_seeds", "ecb_rates").unwrap(),
        schema,
        vec![batch],
    )
    .await
    .unwrap();
}

/// Append `records` to `raw_<source>.<entity>` as one landing batch.
async fn land(wh: &Warehouse, source: &str, schema: &EntitySchema, records: &[Value], batch: &str) {
    let refs: Vec<&Value> = records.iter().collect();
    let stamp = Stamp {
        source_name: source,
        extracted_at_us: 1_773_000_000_000_000,
        batch_id: batch,
    };
    let rb = to_batch(schema, &refs, &stamp).unwrap();
    wh.append(
        &TableName::new(&format!("raw_{source}"), schema.entity).unwrap(),
        schema.arrow_schema(),
        vec![rb],
    )
    .await
    .unwrap();
}

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

fn customer(id: i64, email: &str, phone: Option<&str>, tags: &str, updated: &str) -> Value {
    json!({"id": id, "email": email, "phone": phone, "first_name": "F", "last_name": "L",
           "state": "enabled", "verified_email": true, "tags": tags, "currency": "USD",
           "orders_count": 0, "total_spent": "0.00",
           "email_marketing_consent": {"state": "subscribed"},
           "default_address": {"country_code": "US"},
           "created_at": "2026-01-01T00:00:00Z", "updated_at": updated})
}

async fn land_fixture(wh: &Warehouse) {
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

const MODELS: &[&str] = &[
    "stg_shop_customers",
    "stg_shop_orders",
    "stg_shop_order_lines",
    "stg_shop_order_line_versions",
    "stg_shop_refunds",
    "stg_shop_refund_lines",
    "stg_shop_refund_transactions",
    "stg_shop_order_adjustments",
    "stg_shop_products",
    "stg_shop_product_variants",
    "stg_shop_inventory_levels",
    "stg_hubspot_contacts",
    "stg_klaviyo_profiles",
    "fx_rates",
    "fx_reporting_daily",
    "refunds_fx",
    "orders_fx",
    "finance_daily",
    "identity_edges",
    "identity_graph",
    "order_golden_ids",
    "store_golden_ids",
    "golden_customers",
    "customer_ltv",
    "crm_profiles",
    "klaviyo_order_events",
];

/// A project over the repository's `models/` with EUR reporting, plus its warehouse.
async fn built() -> (tempfile::TempDir, Project, Warehouse) {
    built_with(r#"["shop", "hubspot", "klaviyo"]"#).await
}

/// The fixture built with `source_priority` (a TOML array).
async fn built_with(source_priority: &str) -> (tempfile::TempDir, Project, Warehouse) {
    let (tmp, dir) = crate::support::project(&format!(
        "[project]\nreporting_currency = \"EUR\"\n\
         source_priority = {source_priority}\n\
         [warehouse]\nurl = \"file://./warehouse\"\n"
    ));
    default_models_with_seed(&dir, ECB_CSV);
    let project = Project::load(&dir).unwrap();
    let wh = Warehouse::for_project(&project).unwrap();
    land_fixture(&wh).await;
    let report = model::run(&project, &wh, &[], &mut |_| {}).await.unwrap();
    drop(report);
    (tmp, project, wh)
}

/// Rows of a query as strings (NULL as "NULL").
async fn rows(project: &Project, wh: &Warehouse, sql: &str) -> Vec<Vec<String>> {
    let set = model::load(project, wh).await.unwrap();
    let settings = model::udf::Settings::of(project);
    let ctx = model::session::open(wh, &settings).await.unwrap();
    let wanted = set.in_order().map(|m| m.name.clone()).collect();
    model::session::define_views_for(&ctx, &set, &wanted)
        .await
        .unwrap();
    let batches = lockstep::query::run(&ctx, sql).await.unwrap();
    crate::support::text_rows(&batches)
}

fn table(rows: &[Vec<String>]) -> Vec<String> {
    rows.iter().map(|r| r.join(" | ")).collect()
}

#[tokio::test]
async fn default_models_build_and_pass_their_data_tests() {
    let (_tmp, project, wh) = built().await;
    let set = model::load(&project, &wh).await.unwrap();
    let names: Vec<&str> = set.in_order().map(|m| m.name.as_str()).collect();
    for m in MODELS {
        assert!(names.contains(m), "model {m} missing from {names:?}");
    }
    let report = model::test(&project, &wh, &[]).await.unwrap();
    let failures: Vec<String> = report
        .outcomes
        .iter()
        .filter(|o| o.status != "pass")
        .map(|o| {
            let sample = arrow::util::pretty::pretty_format_batches(&o.sample)
                .map(|t| t.to_string())
                .unwrap_or_default();
            format!(
                "{}.{} {} {} {:?}\n{sample}",
                o.test.model, o.test.name, o.status, o.failing_rows, o.message
            )
        })
        .collect();
    assert!(failures.is_empty(), "failing data tests: {failures:#?}");
    assert!(
        report.outcomes.len() >= 40,
        "only {} data tests",
        report.outcomes.len()
    );
}

#[tokio::test]
async fn staging_keeps_the_latest_version_and_flags_without_excluding() {
    let (_tmp, project, wh) = built().await;
    let orders = rows(&project, &wh,
        "SELECT order_id, financial_status, is_test, is_cancelled, is_voided, counts_in_sales, total_price, shop_currency, presentment_currency, CAST(processed_date AS VARCHAR) FROM stg_shop_orders ORDER BY order_id").await;
    assert_eq!(
        table(&orders),
        vec![
            "1001 | partially_refunded | false | false | false | true | 113.05 | USD | CAD | 2026-03-05",
            "1002 | refunded | false | true | false | true | 37.40 | USD | USD | 2026-03-06",
            "1003 | voided | false | true | true | false | 50.00 | USD | USD | 2026-03-06",
            "1004 | paid | true | false | false | false | 99.00 | USD | USD | 2026-03-06",
            "1006 | paid | false | false | false | true | 60.00 | USD | USD | 2026-03-09",
        ]
    );
    let lines = rows(&project, &wh,
        "SELECT order_id, line_item_id, quantity, gross_sales FROM stg_shop_order_lines WHERE order_id = 1001 ORDER BY line_item_id").await;
    assert_eq!(
        table(&lines),
        vec!["1001 | 1 | 2 | 80.00", "1001 | 2 | 1 | 25.50"]
    );
    // Both landed versions of order 1001 keep their own lines (the first had 2× line 2).
    let versions = rows(&project, &wh,
        "SELECT line_item_id, quantity, gross_sales FROM stg_shop_order_line_versions WHERE order_id = 1001 ORDER BY order_updated_at, line_item_id").await;
    assert_eq!(
        table(&versions),
        vec![
            "1 | 2 | 80.00",
            "2 | 2 | 51.00",
            "1 | 2 | 80.00",
            "2 | 1 | 25.50"
        ]
    );
    let customers = rows(&project, &wh,
        "SELECT customer_id, email_canonical, phone_e164, primary_tag FROM stg_shop_customers ORDER BY customer_id").await;
    assert_eq!(
        table(&customers),
        vec![
            "501 | annsmith@gmail.com | +14155552671 | vip",
            "502 | bob@example.com | NULL | newsletter",
            "504 | carl@example.org | +442079460958 | NULL",
        ]
    );
    let variants = rows(&project, &wh,
        "SELECT variant_id, price FROM stg_shop_product_variants UNION ALL SELECT inventory_item_id, CAST(available AS DECIMAL(18,2)) FROM stg_shop_inventory_levels ORDER BY 1").await;
    assert_eq!(table(&variants), vec!["7101 | 40.00", "7201 | 3.00"]);
    let refunds = rows(&project, &wh,
        "SELECT (SELECT count(*) FROM stg_shop_refunds) AS a, (SELECT count(*) FROM stg_shop_refund_lines) AS b, (SELECT count(*) FROM stg_shop_refund_transactions) AS c, (SELECT sum(amount) FROM stg_shop_order_adjustments) AS d").await;
    assert_eq!(table(&refunds), vec!["2 | 2 | 3 | -13.00"]);
}

#[tokio::test]
async fn fx_rates_carry_the_last_published_rate_over_weekends() {
    let (_tmp, project, wh) = built().await;
    let fx = rows(&project, &wh,
        "SELECT CAST(date AS VARCHAR) AS d, fx_rate_used, CAST(fx_rate_date AS VARCHAR) FROM fx_reporting_daily WHERE currency = 'USD' AND date BETWEEN DATE '2026-03-05' AND DATE '2026-03-10' ORDER BY date").await;
    assert_eq!(
        table(&fx),
        vec![
            "2026-03-05 | 0.5000000000 | 2026-03-05",
            "2026-03-06 | 0.8000000000 | 2026-03-06",
            "2026-03-07 | 0.8000000000 | 2026-03-06",
            "2026-03-08 | 0.8000000000 | 2026-03-06",
            "2026-03-09 | 0.6250000000 | 2026-03-09",
            "2026-03-10 | 0.6250000000 | 2026-03-09",
        ]
    );
    // JPY's N/A on 03-09 is skipped: the Friday rate carries on.
    let jpy = rows(&project, &wh,
        "SELECT CAST(rate_date AS VARCHAR) FROM fx_daily('models.fx_rates') WHERE currency = 'JPY' AND date = DATE '2026-03-09'").await;
    assert_eq!(table(&jpy), vec!["2026-03-06"]);
    let eur = rows(
        &project,
        &wh,
        "SELECT count(*) FROM fx_rates WHERE currency = 'EUR' AND rate = 1",
    )
    .await;
    assert_eq!(table(&eur), vec!["3"]);
}

#[tokio::test]
async fn orders_fx_values_to_the_cent() {
    let (_tmp, project, wh) = built().await;
    let shop = rows(&project, &wh,
        "SELECT order_id, gross_sales, discounts, returns, net_sales, shipping, taxes, total_sales, refunded_amount FROM orders_fx ORDER BY order_id").await;
    assert_eq!(
        table(&shop),
        vec![
            "1001 | 105.50 | 10.00 | 36.00 | 59.50 | 0.00 | 5.59 | 65.09 | 47.96",
            "1002 | 30.00 | 0.00 | 30.00 | 0.00 | 0.00 | 0.00 | 0.00 | 37.40",
            "1006 | 60.00 | 0.00 | 0.00 | 60.00 | 0.00 | 0.00 | 60.00 | 0.00",
        ]
    );
    let presentment = rows(&project, &wh,
        "SELECT presentment_currency, presentment_gross_sales, presentment_returns, presentment_total_price FROM orders_fx WHERE order_id = 1001").await;
    assert_eq!(table(&presentment), vec!["CAD | 142.43 | 48.60 | 152.62"]);
    let reporting = rows(&project, &wh,
        "SELECT order_id, reporting_currency, fx_rate_used, CAST(fx_rate_date AS VARCHAR), gross_sales_reporting, discounts_reporting, returns_reporting, net_sales_reporting, shipping_reporting, taxes_reporting, total_sales_reporting FROM orders_fx ORDER BY order_id").await;
    assert_eq!(
        table(&reporting),
        vec![
            "1001 | EUR | 0.5000000000 | 2026-03-05 | 52.75 | 5.00 | 28.80 | 18.95 | -2.40 | 1.61 | 18.16",
            "1002 | EUR | 0.8000000000 | 2026-03-06 | 24.00 | 0.00 | 18.75 | 5.25 | 0.87 | 0.42 | 6.54",
            "1006 | EUR | 0.6250000000 | 2026-03-09 | 37.50 | 0.00 | 0.00 | 37.50 | 0.00 | 0.00 | 37.50",
        ]
    );
    let refunds = rows(&project, &wh,
        "SELECT refund_id, CAST(refunded_date AS VARCHAR), returns, shipping_refunded, tax_refunded, fx_rate_used, CAST(fx_rate_date AS VARCHAR), returns_reporting FROM refunds_fx ORDER BY refund_id").await;
    assert_eq!(
        table(&refunds),
        vec![
            "801 | 2026-03-07 | 36.00 | 8.00 | 3.96 | 0.8000000000 | 2026-03-06 | 28.80",
            "802 | 2026-03-09 | 30.00 | 5.00 | 2.40 | 0.6250000000 | 2026-03-09 | 18.75",
        ]
    );
}

#[tokio::test]
async fn finance_daily_books_refunds_on_their_date_and_skips_test_and_voided() {
    let (_tmp, project, wh) = built().await;
    let days = rows(&project, &wh,
        "SELECT store, CAST(day AS VARCHAR) AS d, currency, orders, gross_sales, discounts, returns, net_sales, shipping, taxes, total_sales, net_sales_reporting FROM finance_daily ORDER BY day").await;
    assert_eq!(
        table(&days),
        vec![
            "shop | 2026-03-05 | USD | 1 | 105.50 | 10.00 | 0.00 | 95.50 | 8.00 | 9.55 | 113.05 | 47.75",
            "shop | 2026-03-06 | USD | 1 | 30.00 | 0.00 | 0.00 | 30.00 | 5.00 | 2.40 | 37.40 | 24.00",
            "shop | 2026-03-07 | USD | 0 | 0.00 | 0.00 | 36.00 | -36.00 | -8.00 | -3.96 | -47.96 | -28.80",
            "shop | 2026-03-09 | USD | 1 | 60.00 | 0.00 | 30.00 | 30.00 | -5.00 | -2.40 | 22.60 | 18.75",
        ]
    );
    // The days add up to the orders' totals.
    let totals = rows(&project, &wh,
        "SELECT (SELECT sum(total_sales) FROM finance_daily) AS a, (SELECT sum(total_sales) FROM orders_fx) AS b, (SELECT sum(net_sales_reporting) FROM finance_daily) AS c, (SELECT sum(net_sales_reporting) FROM orders_fx) AS d").await;
    assert_eq!(table(&totals), vec!["125.09 | 125.09 | 61.70 | 61.70"]);
}

#[tokio::test]
async fn one_person_under_many_identifiers_is_one_golden_customer() {
    let (_tmp, project, wh) = built().await;
    let ann = rows(&project, &wh,
        "SELECT node, golden_id = 'g_' || substr(md5('c:shop:501'), 1, 16) FROM identity_graph WHERE node IN ('c:shop:501', 'e:annsmith@gmail.com', 'o:shop:1001', 'o:shop:1003', 'o:shop:1006', 'h:hubspot:9001', 'k:klaviyo:01ABC', 'e:x7kq2@privaterelay.appleid.com', 'p:+14155552671')
         UNION ALL
         SELECT 'order ' || CAST(order_id AS VARCHAR), golden_id = 'g_' || substr(md5('c:shop:501'), 1, 16) FROM order_golden_ids WHERE order_id IN (1001, 1003, 1006)
         UNION ALL
         SELECT 'key ' || COALESCE('c' || CAST(customer_id AS VARCHAR), 'o' || CAST(guest_order_id AS VARCHAR)) || ' ' || CAST(store_key AS VARCHAR), golden_id = 'g_' || substr(md5('c:shop:501'), 1, 16) FROM store_golden_ids WHERE customer_id = 501 OR guest_order_id = 1006
         ORDER BY 1").await;
    assert_eq!(
        table(&ann),
        vec![
            "c:shop:501 | true",
            "e:annsmith@gmail.com | true",
            "e:x7kq2@privaterelay.appleid.com | true",
            "h:hubspot:9001 | true",
            "k:klaviyo:01ABC | true",
            // The marts' integer keys: her customer id and her guest checkout
            // (store_key: the customer id, or the guest order id negated).
            "key c501 501 | true",
            "key o1006 -1006 | true",
            // The guest checkout is a node of its own; Ann's store orders are hers
            // through her customer node.
            "o:shop:1006 | true",
            "order 1001 | true",
            "order 1003 | true",
            "order 1006 | true",
            "p:+14155552671 | true",
        ]
    );
    // Test orders are no identity evidence; the old email of a superseded version is gone.
    let absent = rows(&project, &wh,
        "SELECT (SELECT count(*) FROM identity_graph WHERE node IN ('o:shop:1004', 'e:old.ann@example.com'))
              + (SELECT count(*) FROM order_golden_ids WHERE order_id = 1004)
              + (SELECT count(*) FROM store_golden_ids WHERE guest_order_id = 1004)").await;
    assert_eq!(table(&absent), vec!["0"]);
    let golden = rows(&project, &wh,
        "SELECT component_id, email, email_canonical, phone_e164, first_name, primary_tag, store_customer_id, store_customers, source_records FROM golden_customers ORDER BY component_id").await;
    assert_eq!(
        table(&golden),
        vec![
            "c:shop:501 | ann.smith@gmail.com | annsmith@gmail.com | +14155552671 | F | vip | 501 | 1 | 4",
            "c:shop:502 | bob@example.com | bob@example.com | NULL | F | newsletter | 502 | 1 | 1",
            "c:shop:504 | carl@example.org | carl@example.org | +442079460958 | F | NULL | 504 | 1 | 1",
        ]
    );
}

#[tokio::test]
async fn customer_ltv_and_crm_profiles_to_the_cent() {
    let (_tmp, project, wh) = built().await;
    let ltv = rows(&project, &wh,
        "SELECT g.component_id, l.reporting_currency, l.ltv_reporting, l.orders_count, CAST(l.first_order_date AS VARCHAR), CAST(l.last_order_date AS VARCHAR), l.primary_tag FROM customer_ltv l JOIN golden_customers g USING (golden_id) ORDER BY g.component_id").await;
    assert_eq!(
        table(&ltv),
        vec![
            "c:shop:501 | EUR | 56.45 | 2 | 2026-03-05 | 2026-03-09 | vip",
            "c:shop:502 | EUR | 5.25 | 1 | 2026-03-06 | 2026-03-06 | newsletter",
            "c:shop:504 | EUR | 0.00 | 0 | NULL | NULL | NULL",
        ]
    );
    let crm = rows(&project, &wh,
        "SELECT c.email, c.total_spent, c.total_spent_currency, CAST(c.last_order_date AS VARCHAR), c.orders_count, c.primary_tag, c.golden_id = g.golden_id FROM crm_profiles c JOIN golden_customers g ON g.email = c.email ORDER BY c.email").await;
    assert_eq!(
        table(&crm),
        vec![
            "ann.smith@gmail.com | 125.09 | USD | 2026-03-09 | 3 | vip | true",
            "bob@example.com | 0.00 | USD | 2026-03-06 | 1 | newsletter | true",
            "carl@example.org | 0.00 | NULL | NULL | 0 | NULL | true",
        ]
    );
}

#[tokio::test]
async fn golden_ids_survive_a_rerun_and_unrelated_customers() {
    let (_tmp, project, wh) = built().await;
    let ids = "SELECT node, golden_id FROM identity_graph ORDER BY node";
    let before = rows(&project, &wh, ids).await;
    assert!(before.len() >= 12, "{before:?}");
    model::run(&project, &wh, &[], &mut |_| {}).await.unwrap();
    assert_eq!(rows(&project, &wh, ids).await, before);
    land(
        &wh,
        "shop",
        &shop::CUSTOMERS,
        &[customer(
            400,
            "zed@example.net",
            None,
            "",
            "2026-03-11T00:00:00Z",
        )],
        "b3",
    )
    .await;
    model::run(&project, &wh, &[], &mut |_| {}).await.unwrap();
    let after = rows(&project, &wh, ids).await;
    let kept: Vec<Vec<String>> = after
        .iter()
        .filter(|r| !r[0].contains("400") && !r[0].contains("zed@"))
        .cloned()
        .collect();
    assert_eq!(kept, before);
    assert_eq!(after.len(), before.len() + 2);
    let golden = rows(&project, &wh, "SELECT count(*) AS n FROM golden_customers").await;
    assert_eq!(table(&golden), vec!["4"]);
}

/// Cents of a money value: a decimal string ("12.34") or a JSON number (12.34).
fn cents(v: &Value) -> i64 {
    match v {
        Value::String(s) => lockstep::extract::columns::parse_money(s).unwrap() as i64,
        Value::Number(n) => (n.as_f64().unwrap() * 100.0).round() as i64,
        _ => 0,
    }
}

fn utc_date(v: &Value) -> String {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%d")
        .to_string()
}

/// Per UTC day: [orders, gross, discounts, returns, shipping, taxes] in cents,
/// computed from the landed orders' `_raw` JSON (latest version of each order).
async fn finance_from_raw_json(
    project: &Project,
    wh: &Warehouse,
) -> std::collections::BTreeMap<String, [i64; 6]> {
    let raw = rows(project, wh, "SELECT _raw FROM raw_shop.orders").await;
    let mut latest: std::collections::BTreeMap<i64, (String, Value)> = Default::default();
    for r in raw {
        let o: Value = serde_json::from_str(&r[0]).unwrap();
        let version = chrono::DateTime::parse_from_rfc3339(o["updated_at"].as_str().unwrap())
            .unwrap()
            .to_rfc3339();
        let id = o["id"].as_i64().unwrap();
        if latest.get(&id).is_none_or(|(v, _)| *v < version) {
            latest.insert(id, (version, o));
        }
    }
    let mut days: std::collections::BTreeMap<String, [i64; 6]> = Default::default();
    for (_, o) in latest.values() {
        if o["test"] == json!(true) || o["financial_status"] == json!("voided") {
            continue;
        }
        let processed = if o["processed_at"].is_null() {
            &o["created_at"]
        } else {
            &o["processed_at"]
        };
        let d = days.entry(utc_date(processed)).or_default();
        d[0] += 1;
        for li in o["line_items"].as_array().into_iter().flatten() {
            d[1] += cents(&li["price"]) * li["quantity"].as_i64().unwrap();
        }
        d[2] += cents(&o["total_discounts"]);
        d[4] += cents(&o["total_shipping_price_set"]["shop_money"]["amount"]);
        d[5] += cents(&o["total_tax"]);
        for r in o["refunds"].as_array().into_iter().flatten() {
            let when = if r["processed_at"].is_null() {
                &r["created_at"]
            } else {
                &r["processed_at"]
            };
            let d = days.entry(utc_date(when)).or_default();
            for rli in r["refund_line_items"].as_array().into_iter().flatten() {
                d[3] += cents(&rli["subtotal"]);
                d[5] -= cents(&rli["total_tax"]);
            }
            for a in r["order_adjustments"].as_array().into_iter().flatten() {
                if a["kind"] == json!("shipping_refund") {
                    d[4] += cents(&a["amount"]);
                    d[5] += cents(&a["tax_amount"]);
                }
            }
        }
    }
    days
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_store_finance_daily_equals_totals_from_the_raw_json() {
    let handle = crate::extract::sandbox(120, 500, |_| {}).await;
    let source = crate::extract::shopify(&handle);
    let (_tmp, dir) =
        crate::support::project("[project]\n[warehouse]\nurl = \"file://./warehouse\"\n");
    default_models_with_seed(&dir, SANDBOX_ECB_CSV);
    let project = Project::load(&dir).unwrap();
    let wh = Warehouse::for_project(&project).unwrap();
    for stream in ["customers", "orders", "products", "inventory_levels"] {
        let options = lockstep::extract::incremental::Options {
            lookback: std::time::Duration::from_secs(0),
            flush_units: 1000,
        };
        lockstep::extract::run::run(
            &wh,
            &source,
            Some(stream),
            lockstep::extract::run::Mode::Incremental(options),
        )
        .await
        .unwrap();
    }
    // No CRM in this store; a rate from long before any order (reporting in USD).
    land(&wh, "hubspot", &hubspot::schema::CONTACTS, &[], "b1").await;
    land(&wh, "klaviyo", &klaviyo::schema::PROFILES, &[], "b1").await;
    land_ecb(&wh, SANDBOX_ECB_CSV).await;
    model::run(&project, &wh, &[], &mut |_| {}).await.unwrap();

    let expected = finance_from_raw_json(&project, &wh).await;
    assert!(expected.len() > 10, "{} days", expected.len());
    let got = rows(&project, &wh,
        "SELECT CAST(day AS VARCHAR) AS d, orders, CAST(gross_sales * 100 AS BIGINT) AS g, CAST(discounts * 100 AS BIGINT) AS di, CAST(returns * 100 AS BIGINT) AS r, CAST(shipping * 100 AS BIGINT) AS s, CAST(taxes * 100 AS BIGINT) AS t FROM finance_daily ORDER BY day").await;
    let got: std::collections::BTreeMap<String, [i64; 6]> = got
        .iter()
        .map(|r| {
            let n: Vec<i64> = r[1..].iter().map(|x| x.parse().unwrap()).collect();
            (r[0].clone(), [n[0], n[1], n[2], n[3], n[4], n[5]])
        })
        .collect();
    let days: std::collections::BTreeSet<&String> = got.keys().chain(expected.keys()).collect();
    let wrong: Vec<String> = days
        .into_iter()
        .filter(|d| got.get(*d) != expected.get(*d))
        .map(|d| format!("{d}: model {:?} raw {:?}", got.get(d), expected.get(d)))
        .collect();
    assert!(
        wrong.is_empty(),
        "finance_daily differs from the raw JSON on {} of {} days ([orders, gross, discounts, returns, shipping, taxes] cents): {wrong:#?}",
        wrong.len(),
        expected.len()
    );
    let returns: i64 = expected.values().map(|d| d[3]).sum();
    assert!(returns > 0, "the generated store has refunds");

    let report = model::test(&project, &wh, &[]).await.unwrap();
    let failures: Vec<String> = report
        .outcomes
        .iter()
        .filter(|o| o.status != "pass")
        .map(|o| {
            format!(
                "{}.{} {} {} {:?}",
                o.test.model, o.test.name, o.status, o.failing_rows, o.message
            )
        })
        .collect();
    assert!(failures.is_empty(), "failing data tests: {failures:#?}");

    // Record fidelity: for people whose orders all belong to their one store
    // customer, crm_profiles agrees with the store's own customer fields.
    let fidelity = rows(
        &project,
        &wh,
        "WITH person_orders AS (
           SELECT g.golden_id, count(*) AS orders, count(o.customer_id) AS with_customer
           FROM order_golden_ids g
           JOIN stg_shop_orders o ON g.order_id = o.order_id
           WHERE NOT o.is_test GROUP BY g.golden_id
         ), simple AS (
           SELECT gc.golden_id, gc.store_customer_id FROM golden_customers gc
           JOIN person_orders p ON p.golden_id = gc.golden_id
           WHERE (gc.store_customers = 1) AND (p.orders = p.with_customer)
         )
         SELECT s.customer_id, c.total_spent, s.total_spent AS store_total_spent, c.orders_count, s.orders_count AS store_orders_count
         FROM simple x JOIN crm_profiles c ON c.golden_id = x.golden_id
         JOIN stg_shop_customers s ON s.customer_id = x.store_customer_id
         ORDER BY s.customer_id",
    )
    .await;
    assert!(
        fidelity.len() > 20,
        "only {} customers compared",
        fidelity.len()
    );
    let differing: Vec<&Vec<String>> = fidelity
        .iter()
        .filter(|r| (r[1] != r[2]) || (r[3] != r[4]))
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} differ: {differing:?}",
        differing.len(),
        fidelity.len()
    );

    let ids = "SELECT node, golden_id FROM identity_graph ORDER BY node";
    let before = rows(&project, &wh, ids).await;
    model::run(&project, &wh, &[], &mut |_| {}).await.unwrap();
    assert_eq!(rows(&project, &wh, ids).await, before);
    handle.shutdown().await;
}

#[tokio::test]
async fn survivorship_follows_the_configured_source_priority() {
    // The HubSpot contact (Annie, retail) is newer than the store customer (F, vip):
    // with the store ranked first the store's values survive (checked above); with
    // HubSpot first, HubSpot's do.
    let (_tmp, project, wh) = built_with(r#"["hubspot", "shop"]"#).await;
    let ann = rows(
        &project,
        &wh,
        "SELECT email, first_name, last_name, primary_tag, phone_e164 FROM golden_customers WHERE component_id = 'c:shop:501'",
    )
    .await;
    assert_eq!(
        table(&ann),
        vec!["ann.smith@gmail.com | Annie | Smith | retail | +14155552671"]
    );
    let crm = rows(
        &project,
        &wh,
        "SELECT primary_tag FROM crm_profiles WHERE email = 'ann.smith@gmail.com'",
    )
    .await;
    assert_eq!(table(&crm), vec!["retail"]);
}

#[tokio::test]
async fn klaviyo_order_events_cover_counted_orders_and_refunds_with_money_back() {
    let (_tmp, project, wh) = built().await;
    let placed = rows(
        &project,
        &wh,
        "SELECT event_id, email, event_time, CAST(value AS VARCHAR), value_currency FROM models.klaviyo_order_events \
         WHERE metric = 'Placed Order' ORDER BY event_id",
    )
    .await;
    let orders = rows(
        &project,
        &wh,
        "SELECT 'placed-order-' || CAST(order_id AS VARCHAR), lower(trim(email)), \
         to_char(COALESCE(processed_at, created_at), '%Y-%m-%dT%H:%M:%SZ'), CAST(total_price AS VARCHAR), shop_currency \
         FROM models.stg_shop_orders WHERE (NOT is_test) AND (NOT is_voided) AND (email IS NOT NULL) ORDER BY 1",
    )
    .await;
    assert!(!placed.is_empty());
    assert_eq!(placed, orders, "one Placed Order per counted order");
    // The test order and the voided one send nothing.
    let skipped = rows(
        &project,
        &wh,
        "SELECT count(*) FROM models.klaviyo_order_events e JOIN models.stg_shop_orders o \
         ON e.event_id = 'placed-order-' || CAST(o.order_id AS VARCHAR) WHERE o.is_test OR o.is_voided",
    )
    .await;
    assert_eq!(skipped, vec![vec!["0".to_string()]]);
    let refunded = rows(
        &project,
        &wh,
        "SELECT event_id, CAST(value AS VARCHAR) FROM models.klaviyo_order_events \
         WHERE metric = 'Refunded Order' ORDER BY event_id",
    )
    .await;
    let money_back = rows(
        &project,
        &wh,
        "SELECT 'refunded-order-' || CAST(refund_id AS VARCHAR) AS id, CAST(amount AS VARCHAR) FROM ( \
         SELECT t.refund_id, sum(t.amount) AS amount \
         FROM models.stg_shop_refund_transactions t JOIN models.stg_shop_orders o ON o.order_id = t.order_id \
         WHERE t.is_successful_refund AND (NOT o.is_test) AND (NOT o.is_voided) GROUP BY t.refund_id) ORDER BY id",
    )
    .await;
    assert!(!refunded.is_empty());
    assert_eq!(
        refunded, money_back,
        "one Refunded Order per refund with money back"
    );
}
