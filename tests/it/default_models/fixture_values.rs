//! Every default model's values over the fixture store (`super::fixture`), to the
//! cent: staging, FX, orders and finance, identity and survivorship, LTV and CRM
//! profiles, Klaviyo events.

use lockstep::connectors::shopify::schema as shop;
use lockstep::model;

use super::fixture::customer;
use super::{built, built_with, failing_tests, land, rows, table};

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

#[tokio::test]
async fn default_models_build_and_pass_their_data_tests() {
    let (_tmp, project, wh) = built().await;
    let set = model::load(&project, &wh).await.unwrap();
    let names: Vec<&str> = set.in_order().map(|m| m.name.as_str()).collect();
    for m in MODELS {
        assert!(names.contains(m), "model {m} missing from {names:?}");
    }
    let report = model::test(&project, &wh, &[]).await.unwrap();
    let failures = failing_tests(&report);
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
