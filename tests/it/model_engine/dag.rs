//! Discovery, DAG order, plain names and sugar, views feeding downstream models,
//! and the CLI verbs through the real binary.

use super::*;

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
