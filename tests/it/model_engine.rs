//! The SQL model engine over real Delta tables in a temp dir: discovery, DAG order
//! and selection, ref()/source() sugar and plain names, fresh reads downstream,
//! located errors (broken SQL, cycles, unknown tables), data tests and their
//! results table, the UDFs and table functions, and the CLI verbs through the real
//! binary.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use lockstep::config::Project;
use lockstep::model::{self, ModelError};
use lockstep::warehouse::{TableName, Warehouse};

use crate::support::{self, lockstep};

const TOML: &str = "[warehouse]\nurl = \"file://./warehouse\"\n";

/// A project with `files` (path relative to the project → text).
fn project_with(files: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, dir) = support::project(TOML);
    for (path, text) in files {
        write(&dir, path, text);
    }
    (tmp, dir)
}

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn open(dir: &Path) -> (Project, Warehouse) {
    let project = Project::load(dir).unwrap();
    let warehouse = Warehouse::for_project(&project).unwrap();
    (project, warehouse)
}

/// raw_shop.orders: (id, customer, amount).
async fn seed_orders(wh: &Warehouse, rows: &[(i64, &str, i64)]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("customer", DataType::Utf8, true),
        Field::new("amount", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap();
    wh.overwrite(
        &TableName::new("raw_shop", "orders").unwrap(),
        schema,
        vec![batch],
    )
    .await
    .unwrap();
}

async fn build(
    project: &Project,
    wh: &Warehouse,
    select: &[&str],
) -> Result<model::RunReport, ModelError> {
    let select: Vec<String> = select.iter().map(|s| s.to_string()).collect();
    model::run(project, wh, &select, &mut |_| {}).await
}

/// Rows of a query as strings (NULL as "NULL"), one Vec per row.
async fn rows(wh: &Warehouse, sql: &str) -> Vec<Vec<String>> {
    let ctx = model::session::open(wh, &model::udf::Settings::default())
        .await
        .unwrap();
    let batches = lockstep::query::run(&ctx, sql).await.unwrap();
    crate::support::text_rows(&batches)
}

async fn version(wh: &Warehouse, name: &str) -> u64 {
    wh.require(&TableName::new("models", name).unwrap())
        .await
        .unwrap()
        .version()
        .unwrap()
}

const SHOP_MODELS: &[(&str, &str)] = &[
    (
        "models/staging/stg_orders.sql",
        "-- staging: sugar\nSELECT id, customer, amount\nFROM {{ source('shop', 'orders') }}\n",
    ),
    (
        "models/marts/customer_totals.sql",
        "SELECT customer, SUM(amount) AS total, COUNT(*) AS orders\nFROM {{ ref('stg_orders') }}\nGROUP BY customer\n",
    ),
    (
        "models/marts/big_customers.sql",
        "-- bare name resolves to the model\nSELECT customer, total FROM customer_totals WHERE total > 10\n",
    ),
    ("models/unrelated.sql", "SELECT 1 AS x"),
];

#[tokio::test]
async fn models_build_in_order_and_downstream_reads_fresh_output() {
    let (_tmp, dir) = project_with(SHOP_MODELS);
    let (project, wh) = open(&dir);
    seed_orders(&wh, &[(1, "ann", 5), (2, "ann", 7), (3, "bob", 3)]).await;

    let report = build(&project, &wh, &[]).await.unwrap();
    let order: Vec<&str> = report.models.iter().map(|m| m.model.as_str()).collect();
    let pos = |m: &str| order.iter().position(|x| *x == m).unwrap();
    assert_eq!(order.len(), 4);
    assert!(pos("stg_orders") < pos("customer_totals"));
    assert!(pos("customer_totals") < pos("big_customers"));
    assert_eq!(report.models[pos("stg_orders")].rows, Some(3));
    assert_eq!(
        rows(&wh, "SELECT customer, total FROM models.big_customers").await,
        [["ann", "12"]]
    );

    // New raw data; rebuild stg_orders and everything downstream of it only.
    seed_orders(&wh, &[(1, "ann", 5), (3, "bob", 3), (4, "bob", 30)]).await;
    let unrelated_before = version(&wh, "unrelated").await;
    let report = build(&project, &wh, &["stg_orders+"]).await.unwrap();
    let built: Vec<&str> = report.models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(built, ["stg_orders", "customer_totals", "big_customers"]);
    assert_eq!(version(&wh, "unrelated").await, unrelated_before);
    // big_customers saw customer_totals' new version within the same run.
    assert_eq!(
        rows(&wh, "SELECT customer, total FROM models.big_customers").await,
        [["bob", "33"]]
    );

    // `+a` builds a and its ancestors; plain `a` only a.
    let report = build(&project, &wh, &["+customer_totals"]).await.unwrap();
    let built: Vec<&str> = report.models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(built, ["stg_orders", "customer_totals"]);
    let report = build(&project, &wh, &["unrelated"]).await.unwrap();
    assert_eq!(report.models.len(), 1);
    let err = build(&project, &wh, &["nope"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope") && err.contains("stg_orders"), "{err}");

    // Selecting a model whose input model was never built says what to do.
    write(&dir, "models/new_input.sql", "SELECT 1 AS x");
    write(&dir, "models/reader.sql", "SELECT *\nFROM   new_input");
    let err = build(&project, &wh, &["reader"])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("models/reader.sql:2:8: models.new_input has not been built yet"),
        "{err}"
    );
    build(&project, &wh, &["+reader"]).await.unwrap();
    assert_eq!(rows(&wh, "SELECT x FROM models.reader").await, [["1"]]);
}

#[tokio::test]
async fn plain_names_and_sugar_resolve_to_the_same_dependencies() {
    let (_tmp, dir) = project_with(&[
        ("models/a.sql", "SELECT id FROM raw_shop.orders"),
        ("models/b.sql", "SELECT * FROM models.a"),
        (
            "models/c.sql",
            "SELECT * FROM {{ ref('a') }} JOIN lockstep.models.b USING (id)",
        ),
    ]);
    let (project, wh) = open(&dir);
    seed_orders(&wh, &[(1, "ann", 5)]).await;
    let set = model::load(&project, &wh).await.unwrap();
    let compiled = model::describe::compile(&set);
    let deps: BTreeMap<&str, Vec<String>> = compiled
        .iter()
        .map(|c| (c.name.as_str(), c.depends_on.clone()))
        .collect();
    assert_eq!(deps["b"], ["a"]);
    assert_eq!(deps["c"], ["a", "b"]);
    assert_eq!(compiled[0].sources, ["raw_shop.orders"]);
    assert!(
        compiled[2]
            .sql
            .contains("FROM models.a JOIN lockstep.models.b"),
        "{}",
        compiled[2].sql
    );
    build(&project, &wh, &[]).await.unwrap();
    assert_eq!(rows(&wh, "SELECT id FROM models.c").await, [["1"]]);
}

async fn load_error(files: &[(&str, &str)]) -> String {
    let (_tmp, dir) = project_with(files);
    let (project, wh) = open(&dir);
    seed_orders(&wh, &[(1, "ann", 5)]).await;
    match build(&project, &wh, &[]).await {
        Ok(_) => panic!("expected an error for {files:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn broken_sql_names_the_file_line_and_column() {
    let err = load_error(&[
        ("models/ok.sql", "SELECT 1 AS x"),
        (
            "models/bad.sql",
            "SELECT id,\n  FROM raw_shop.orders\n WHERE",
        ),
    ])
    .await;
    assert!(err.starts_with("models/bad.sql:"), "{err}");
    assert!(err.starts_with("models/bad.sql:3:7:"), "{err}");

    // A planning error (unknown column) is located too.
    let err = load_error(&[(
        "models/cols.sql",
        "SELECT id,\n       nope\nFROM raw_shop.orders",
    )])
    .await;
    assert!(err.starts_with("models/cols.sql:2:8:"), "{err}");
    assert!(err.contains("nope"), "{err}");

    // Sugar keeps positions: the error after a ref() is at the file's column.
    let err = load_error(&[
        ("models/a.sql", "SELECT 1 AS x"),
        (
            "models/b.sql",
            "SELECT x FROM {{ ref('a') }} WHERE nope = 1",
        ),
    ])
    .await;
    assert!(err.starts_with("models/b.sql:1:36:"), "{err}");

    let err = load_error(&[("models/two.sql", "SELECT 1; SELECT 2")]).await;
    assert!(
        err.starts_with("models/two.sql:1:1:") && err.contains("one SELECT"),
        "{err}"
    );
    let err = load_error(&[("models/tpl.sql", "SELECT *\nFROM {{ var('x') }}")]).await;
    assert!(err.starts_with("models/tpl.sql:2:6:"), "{err}");
    let err = load_error(&[("models/expr.sql", "SELECT count(*) FROM raw_shop.orders")]).await;
    assert!(
        err.starts_with("models/expr.sql:") && err.contains("AS"),
        "{err}"
    );
}

#[tokio::test]
async fn a_cycle_names_its_members_and_files() {
    let err = load_error(&[
        ("models/a.sql", "SELECT * FROM models.c"),
        ("models/sub/b.sql", "SELECT *\nFROM a"),
        ("models/c.sql", "SELECT * FROM {{ ref('b') }}"),
        ("models/d.sql", "SELECT * FROM a"),
    ])
    .await;
    assert!(err.starts_with("models/a.sql:1:15:"), "{err}");
    assert!(err.contains("cycle"), "{err}");
    for member in ["models/a.sql", "models/sub/b.sql:2:6", "models/c.sql"] {
        assert!(err.contains(member), "{member} missing in {err}");
    }
    assert!(!err.contains("models/d.sql"), "{err}");
}

#[tokio::test]
async fn an_unknown_table_is_located() {
    let err = load_error(&[("models/x.sql", "SELECT *\nFROM   raw_shop.missing")]).await;
    assert!(
        err.starts_with("models/x.sql:2:8: unknown table raw_shop.missing"),
        "{err}"
    );
    let err = load_error(&[(
        "models/y.sql",
        "WITH t AS (SELECT 1 AS a)\nSELECT * FROM t JOIN nowhere ON true",
    )])
    .await;
    assert!(
        err.starts_with("models/y.sql:2:22: unknown table nowhere"),
        "{err}"
    );
    let err = load_error(&[
        ("models/a.sql", "SELECT 1 AS x"),
        ("models/b.sql", "SELECT 1 AS x"),
        ("models/sub/a.sql", "SELECT 2 AS x"),
    ])
    .await;
    assert!(
        err.contains("models/sub/a.sql") && err.contains("models/a.sql"),
        "{err}"
    );
}

#[tokio::test]
async fn view_models_feed_downstream_models_without_being_stored() {
    let (_tmp, dir) = project_with(&[
        (
            "models/v.sql",
            "SELECT id, amount * 2 AS doubled FROM raw_shop.orders",
        ),
        (
            "models/v.yml",
            "models:\n  - name: v\n    config: { materialized: view }\n",
        ),
        ("models/t.sql", "SELECT SUM(doubled) AS s FROM v"),
    ]);
    let (project, wh) = open(&dir);
    seed_orders(&wh, &[(1, "ann", 5), (2, "bob", 6)]).await;
    let report = build(&project, &wh, &[]).await.unwrap();
    assert_eq!(report.models[0].rows, None);
    assert!(
        wh.load(&TableName::new("models", "v").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(rows(&wh, "SELECT s FROM models.t").await, [["22"]]);
    // Building only t still defines the view it reads.
    seed_orders(&wh, &[(1, "ann", 1)]).await;
    build(&project, &wh, &["t"]).await.unwrap();
    assert_eq!(rows(&wh, "SELECT s FROM models.t").await, [["2"]]);
}

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

#[tokio::test]
async fn yaml_errors_name_file_and_line() {
    let (_tmp, dir) = project_with(&[
        ("models/m.sql", "SELECT 1 AS id"),
        ("models/m.yml", "models:\n  - name: m\n    colums: []\n"),
    ]);
    let (project, wh) = open(&dir);
    let err = build(&project, &wh, &[]).await.unwrap_err().to_string();
    assert!(err.starts_with("models/m.yml:3:"), "{err}");
    assert!(err.contains("colums"), "{err}");
    write(
        &dir,
        "models/m.yml",
        "models:\n  - name: m\n  - name: ghost\n",
    );
    let err = build(&project, &wh, &[]).await.unwrap_err().to_string();
    assert!(
        err.starts_with("models/m.yml:3:") && err.contains("ghost"),
        "{err}"
    );
}

#[tokio::test]
async fn identity_udfs_and_stable_connected_components_in_models() {
    let pairs = |extra: &str| {
        format!(
            "SELECT 'shopify:' || CAST(id AS VARCHAR) AS a, 'email:' || canonical_email(email) AS b FROM raw_shop.customers\n\
             UNION ALL SELECT 'shopify:' || CAST(id AS VARCHAR), 'phone:' || e164(phone, 'US') FROM raw_shop.customers\n{extra}"
        )
    };
    let (_tmp, dir) = project_with(&[
        ("models/identity_pairs.sql", &pairs("")),
        (
            "models/golden.sql",
            "SELECT node, component_id, 'g_' || substr(md5(component_id), 1, 12) AS golden_id\nFROM connected_components('models.identity_pairs')",
        ),
    ]);
    let (project, wh) = open(&dir);
    let customers = |rows: &[(i64, Option<&str>, Option<&str>)]| {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("email", DataType::Utf8, true),
            Field::new("phone", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(rows.iter().map(|r| r.1).collect::<StringArray>()),
                Arc::new(rows.iter().map(|r| r.2).collect::<StringArray>()),
            ],
        )
        .unwrap();
        (schema, batch)
    };
    let base: Vec<(i64, Option<&str>, Option<&str>)> = vec![
        (1, Some("Jane.Doe+shop@GMAIL.com "), None),
        (2, Some("janedoe@googlemail.com"), Some("(415) 555-2671")),
        (
            3,
            Some("abc@privaterelay.appleid.com"),
            Some("+1 415 555 2671"),
        ),
        (4, Some("bob@example.com"), Some("not a phone")),
        (5, None, None),
    ];
    let (schema, batch) = customers(&base);
    let raw = TableName::new("raw_shop", "customers").unwrap();
    wh.overwrite(&raw, schema, vec![batch]).await.unwrap();
    build(&project, &wh, &[]).await.unwrap();
    let golden = |rows: Vec<Vec<String>>| -> BTreeMap<String, (String, String)> {
        rows.into_iter()
            .map(|r| (r[0].clone(), (r[1].clone(), r[2].clone())))
            .collect()
    };
    let first = golden(
        rows(
            &wh,
            "SELECT node, component_id, golden_id FROM models.golden",
        )
        .await,
    );
    // Jane (1, 2) and the Apple relay address (3) share a phone: one person.
    for n in [
        "shopify:1",
        "shopify:2",
        "shopify:3",
        "email:janedoe@gmail.com",
        "phone:+14155552671",
    ] {
        assert_eq!(
            first[n].0, "email:abc@privaterelay.appleid.com",
            "{n}: {first:?}"
        );
    }
    assert_eq!(first["shopify:4"].0, "email:bob@example.com");
    assert_eq!(first["shopify:5"].0, "shopify:5");
    assert!(!first.contains_key("phone:not a phone"));

    // Add unrelated customers (including ids and emails that sort first): every
    // existing golden id is unchanged.
    let mut more = base.clone();
    more.extend([
        (0, Some("aaa@example.com"), Some("(212) 555-0100")),
        (6, Some("zed@example.com"), None),
    ]);
    let (schema, batch) = customers(&more);
    wh.overwrite(&raw, schema, vec![batch]).await.unwrap();
    build(&project, &wh, &[]).await.unwrap();
    let second = golden(
        rows(
            &wh,
            "SELECT node, component_id, golden_id FROM models.golden",
        )
        .await,
    );
    for (node, ids) in &first {
        assert_eq!(&second[node], ids, "{node}");
    }
    assert_eq!(second.len(), first.len() + 5);
}

#[tokio::test]
async fn fx_daily_forward_fills_weekends_for_an_equi_join() {
    let (_tmp, dir) = project_with(&[
        (
            "models/rates.sql",
            "SELECT CAST(d AS DATE) AS rate_date, c AS currency, CAST(r AS DECIMAL(12, 6)) AS rate\nFROM (VALUES ('2026-01-02', 'USD', '1.100000'), ('2026-01-05', 'USD', '1.200000')) AS t(d, c, r)",
        ),
        (
            "models/converted.sql",
            "SELECT o.day, CAST(o.amount * f.rate AS DECIMAL(18, 2)) AS amount_usd, f.rate AS fx_rate_used, f.rate_date AS fx_rate_date\n\
             FROM (SELECT CAST(d AS DATE) AS day, CAST(a AS DECIMAL(18, 2)) AS amount FROM (VALUES ('2026-01-03', '10.00'), ('2026-01-05', '10.00')) AS t(d, a)) o\n\
             JOIN fx_daily('models.rates', '2026-01-10') f ON (f.date = o.day) AND (f.currency = 'USD')",
        ),
    ]);
    let (project, wh) = open(&dir);
    build(&project, &wh, &[]).await.unwrap();
    let got = rows(
        &wh,
        "SELECT day, amount_usd, fx_rate_used, fx_rate_date FROM models.converted ORDER BY day",
    )
    .await;
    assert_eq!(
        got,
        [
            ["2026-01-03", "11.00", "1.100000", "2026-01-02"],
            ["2026-01-05", "12.00", "1.200000", "2026-01-05"],
        ]
    );
    let set = model::load(&project, &wh).await.unwrap();
    assert_eq!(model::describe::compile(&set)[1].depends_on, ["rates"]);
}

#[test]
fn cli_run_test_compile_and_docs() {
    let (_tmp, dir) = project_with(&[
        ("models/a.sql", "SELECT 1 AS id, 'x' AS label"),
        ("models/b.sql", "SELECT id FROM {{ ref('a') }}"),
        (
            "models/a.yml",
            "models:\n  - name: a\n    description: The a model.\n    columns:\n      - name: id\n        description: The id.\n        data_tests: [unique, not_null]\n",
        ),
    ]);
    let out = support::stdout_ok(&lockstep(&dir, &["run"]));
    assert!(out.contains("models.a") && out.contains("1 rows"), "{out}");
    let json = support::stdout_ok(&lockstep(&dir, &["run", "--select", "b", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["models"].as_array().unwrap().len(), 1);
    assert_eq!(report["models"][0]["model"], "b");
    assert_eq!(report["models"][0]["rows"], 1);

    let out = support::stdout_ok(&lockstep(&dir, &["test"]));
    assert!(out.contains("PASS  a.unique_id"), "{out}");

    let out = support::stdout_ok(&lockstep(&dir, &["compile"]));
    assert!(
        out.contains("1. models.a") && out.contains("2. models.b"),
        "{out}"
    );
    assert!(out.contains("SELECT id FROM models.a"), "{out}");

    let out = support::stdout_ok(&lockstep(&dir, &["docs"]));
    assert!(
        out.contains("The a model.") && out.contains("id Int64: The id."),
        "{out}"
    );
    let docs: serde_json::Value =
        serde_json::from_str(&support::stdout_ok(&lockstep(&dir, &["docs", "--json"]))).unwrap();
    assert_eq!(docs[0]["columns"][0]["tests"][0], "unique_id");

    // A failing test: non-zero exit, sample rows on stdout, one line on stderr.
    write(
        &dir,
        "models/a.sql",
        "SELECT * FROM (VALUES (1, 'x'), (1, 'y')) AS t(id, label)",
    );
    support::stdout_ok(&lockstep(&dir, &["run"]));
    let out = lockstep(&dir, &["test"]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL  a.unique_id: 1 failing row(s)"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // Errors: one located line on stderr, non-zero exit.
    for (file, text, expect) in [
        (
            "models/b.sql",
            "SELECT id\nFROM a WHERE (",
            "models/b.sql:2:",
        ),
        (
            "models/b.sql",
            "SELECT * FROM raw_x.gone",
            "models/b.sql:1:15: unknown table raw_x.gone",
        ),
        (
            "models/b.sql",
            "SELECT * FROM models.c",
            "cycle between models",
        ),
    ] {
        write(&dir, file, text);
        if expect.contains("cycle") {
            write(&dir, "models/c.sql", "SELECT * FROM models.b");
        }
        for verb in ["run", "compile"] {
            let out = lockstep(&dir, &[verb]);
            assert!(!out.status.success(), "{verb} {text}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{verb}: {stderr}");
            assert!(lines[0].contains(expect), "{verb}: {stderr}");
        }
    }
}

#[tokio::test]
async fn project_settings_are_sql_functions() {
    let (_tmp, dir) = support::project(&format!(
        "[project]\nreporting_currency = \"EUR\"\nsource_priority = [\"hubspot\", \"shopify\"]\n{TOML}"
    ));
    write(
        &dir,
        "models/s.sql",
        "SELECT reporting_currency() AS currency, source_priority('shopify') AS shopify, source_priority('klaviyo') AS other",
    );
    let (project, wh) = open(&dir);
    build(&project, &wh, &[]).await.unwrap();
    assert_eq!(
        rows(&wh, "SELECT * FROM models.s").await,
        [["EUR", "2", "3"]]
    );
}
