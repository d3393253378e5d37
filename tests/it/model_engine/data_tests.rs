//! Data tests: outcomes with sample rows, the results table, gating of
//! downstream syncs, and a test on a missing column.

use super::*;

const TESTED_YAML: &str = r#"models:
  - name: customers
    description: One row per customer.
    config: { unique_key: id }
    columns:
      - name: id
        description: Customer id.
        data_tests: [unique, not_null]
      - name: tier
        data_tests:
          - accepted_values: { values: [gold, silver] }
    data_tests:
      - sql: "SELECT * FROM {{ this }} WHERE id < 0"
  - name: orders
    columns:
      - name: customer_id
        data_tests:
          - relationships: { to: ref('customers'), field: id }
"#;

async fn outcome_map(report: &model::TestReport) -> BTreeMap<String, (String, u64, usize)> {
    report
        .outcomes
        .iter()
        .map(|o| {
            let sample: usize = o.sample.iter().map(RecordBatch::num_rows).sum();
            (
                format!("{}.{}", o.test.model, o.test.name),
                (o.status.to_string(), o.failing_rows, sample),
            )
        })
        .collect()
}

#[tokio::test]
async fn data_tests_pass_fail_with_samples_and_gate_downstream_syncs() {
    let good_customers =
        "SELECT * FROM (VALUES (1, 'gold'), (2, 'silver'), (3, NULL)) AS t(id, tier)";
    let good_orders =
        "SELECT * FROM (VALUES (10, 1), (11, 2), (12, NULL)) AS t(order_id, customer_id)";
    let (_tmp, dir) = project_with(&[
        ("models/customers.sql", good_customers),
        ("models/orders.sql", good_orders),
        (
            "models/ltv.sql",
            "SELECT o.customer_id, COUNT(*) AS n FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY o.customer_id",
        ),
        ("models/schema.yml", TESTED_YAML),
    ]);
    let (project, wh) = open(&dir);
    build(&project, &wh, &[]).await.unwrap();
    let report = model::test(&project, &wh, &[]).await.unwrap();
    let outcomes = outcome_map(&report).await;
    assert_eq!(outcomes.len(), 5, "{outcomes:?}");
    assert!(report.passed(), "{outcomes:?}");
    assert!(model::tests_passing(&wh, "customers").await.unwrap());

    // Break every test: duplicate and null ids, a bad tier, a negative id, an
    // orphan order (7 of them, to check the sample is capped at 5).
    write(
        &dir,
        "models/customers.sql",
        "SELECT * FROM (VALUES (1, 'gold'), (1, 'bronze'), (CAST(NULL AS BIGINT), 'silver'), (-5, 'gold')) AS t(id, tier)",
    );
    write(
        &dir,
        "models/orders.sql",
        "SELECT * FROM (VALUES (10, 1), (11, 90), (12, 91), (13, 92), (14, 93), (15, 94), (16, 95), (17, 96)) AS t(order_id, customer_id)",
    );
    build(&project, &wh, &[]).await.unwrap();
    let report = model::test(&project, &wh, &[]).await.unwrap();
    assert!(!report.passed());
    let o = outcome_map(&report).await;
    assert_eq!(o["customers.unique_id"], ("fail".into(), 1, 1));
    assert_eq!(o["customers.not_null_id"], ("fail".into(), 1, 1));
    assert_eq!(o["customers.accepted_values_tier"], ("fail".into(), 1, 1));
    assert_eq!(o["customers.sql_1"], ("fail".into(), 1, 1));
    assert_eq!(o["orders.relationships_customer_id"], ("fail".into(), 7, 5));

    // Results are recorded, and the gate sees them: ltv reads orders, which failed.
    let recorded = rows(
        &wh,
        "SELECT status, COUNT(*) FROM meta.test_results GROUP BY status ORDER BY status",
    )
    .await;
    assert_eq!(recorded, [["fail", "5"], ["pass", "5"]]);
    assert!(!model::tests_passing(&wh, "customers").await.unwrap());
    let set = model::load(&project, &wh).await.unwrap();
    let failed = model::failed_upstream(&wh, &set, "ltv").await.unwrap();
    assert_eq!(failed.len(), 5, "{failed:?}");
    assert!(
        failed
            .iter()
            .any(|f| f.model == "orders" && f.failing_rows == 7)
    );

    // Fix the data and re-test only orders: orders passes again, customers still fails.
    write(&dir, "models/orders.sql", good_orders);
    write(&dir, "models/customers.sql", good_customers);
    build(&project, &wh, &[]).await.unwrap();
    let report = model::test(&project, &wh, &["orders".to_string()])
        .await
        .unwrap();
    assert!(report.passed());
    assert!(model::tests_passing(&wh, "orders").await.unwrap());
    let failed = model::failed_upstream(&wh, &set, "ltv").await.unwrap();
    assert!(failed.iter().all(|f| f.model == "customers"), "{failed:?}");
    assert_eq!(failed.len(), 4, "{failed:?}");
}

#[tokio::test]
async fn a_test_on_a_missing_column_is_an_error_outcome() {
    let (_tmp, dir) = project_with(&[
        ("models/m.sql", "SELECT 1 AS id"),
        (
            "models/m.yml",
            "models:\n  - name: m\n    columns:\n      - name: idd\n        data_tests: [not_null]\n",
        ),
    ]);
    let (project, wh) = open(&dir);
    build(&project, &wh, &[]).await.unwrap();
    let report = model::test(&project, &wh, &[]).await.unwrap();
    assert_eq!(report.outcomes[0].status, "error");
    assert!(
        report.outcomes[0]
            .message
            .as_deref()
            .unwrap_or("")
            .contains("idd")
    );
    assert!(!model::tests_passing(&wh, "m").await.unwrap());
}
