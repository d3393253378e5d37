//! How a run builds independent models at the same time: every model still reads
//! the fresh output of what it depends on, the report keeps dependency order, and
//! a failing model stops everything that reads it while the error names its file.

use lockstep::config::Project;
use lockstep::model;
use lockstep::warehouse::{TableName, Warehouse};

use crate::support;

fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Project, Warehouse) {
    let (tmp, dir) = support::project("[warehouse]\nurl = \"file://./warehouse\"\n");
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let project = Project::load(&dir).unwrap();
    let warehouse = Warehouse::for_project(&project).unwrap();
    (tmp, project, warehouse)
}

async fn exists(wh: &Warehouse, name: &str) -> bool {
    wh.list_tables()
        .await
        .unwrap()
        .contains(&TableName::new("models", name).unwrap())
}

/// The rows of `sql` over the warehouse, as text.
async fn rows(wh: &Warehouse, sql: &str) -> Vec<Vec<String>> {
    let ctx = model::session::open(wh, &model::udf::Settings::default())
        .await
        .unwrap();
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    support::text_rows(&batches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_chains_build_together_and_report_in_dependency_order() {
    // Two chains of three tables each, plus a view both ends read.
    let (_tmp, project, wh) = project(&[
        ("models/a1.sql", "SELECT 1 AS x"),
        ("models/a2.sql", "SELECT x + 1 AS x FROM a1"),
        ("models/a3.sql", "SELECT x + 1 AS x FROM a2"),
        ("models/b1.sql", "SELECT 10 AS x"),
        ("models/b2.sql", "SELECT x + 10 AS x FROM b1"),
        ("models/b3.sql", "SELECT x + 10 AS x FROM b2"),
        (
            "models/v.sql",
            "SELECT x FROM a1 UNION ALL SELECT x FROM b1",
        ),
        (
            "models/both.sql",
            "SELECT (SELECT x FROM a3) + (SELECT x FROM b3) + (SELECT sum(x) FROM v) AS x",
        ),
        (
            "models/_p.yml",
            "models:\n  - name: v\n    config:\n      materialized: view\n",
        ),
    ]);
    let report = model::run(&project, &wh, &[], &mut |_| {}).await.unwrap();
    let order: Vec<&str> = report.models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(order, ["a1", "a2", "a3", "b1", "b2", "b3", "v", "both"]);
    // a3 = 3, b3 = 30, v = 1 + 10.
    assert_eq!(rows(&wh, "SELECT x FROM models.both").await, [["44"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_model_stops_its_readers_and_names_its_file() {
    let (_tmp, project, wh) = project(&[
        ("models/ok.sql", "SELECT 1 AS id"),
        ("models/bad.sql", "SELECT nope FROM ok"),
        ("models/after_bad.sql", "SELECT * FROM bad"),
    ]);
    let err = model::run(&project, &wh, &[], &mut |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("models/bad.sql"), "{err}");
    assert!(exists(&wh, "ok").await);
    assert!(!exists(&wh, "bad").await);
    assert!(!exists(&wh, "after_bad").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_view_keeps_only_the_columns_its_readers_use() {
    // `wide` is read by two tables, so a run computes it once and holds it. `t1`
    // also reads `other`, a view over a table this run builds: neither exists when
    // the run starts, and `t1` must still count (it once made every column kept).
    let files = |t2: &'static str| {
        [
            (
                "models/wide.sql",
                "SELECT 1 AS id, 'a' AS keep_a, 'b' AS keep_b, 'c' AS dropped, 'd' AS also_dropped",
            ),
            ("models/base.sql", "SELECT 1 AS id, 'x' AS label"),
            ("models/other.sql", "SELECT id, label FROM base"),
            (
                "models/t1.sql",
                "SELECT w.id, w.keep_a, o.label FROM wide w JOIN other o ON o.id = w.id",
            ),
            ("models/t2.sql", t2),
            (
                "models/_p.yml",
                "models:\n  - name: wide\n    config:\n      materialized: view\n  - name: other\n    config:\n      materialized: view\n",
            ),
        ]
    };
    let build = |t2: &'static str| async move {
        let (_tmp, project, wh) = project(&files(t2));
        let set = model::load(&project, &wh).await.unwrap();
        let ctx = model::session::open(&wh, set.settings()).await.unwrap();
        let models: Vec<_> = set.in_order().collect();
        let views = ["wide".to_string(), "other".to_string()].into();
        let kept = model::session::used_columns(&ctx, &models, &views)
            .await
            .unwrap();
        // The run builds the same rows whatever it keeps.
        model::run(&project, &wh, &[], &mut |_| {}).await.unwrap();
        let ctx = model::session::open(&wh, set.settings()).await.unwrap();
        let rows = ctx
            .sql("SELECT a.keep_a, a.label, b.* FROM models.t1 a, models.t2 b")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        (kept, support::text_rows(&rows))
    };
    let (kept, rows) = build("SELECT id, keep_b FROM wide").await;
    let wide: Vec<&str> = kept["wide"].iter().map(String::as_str).collect();
    assert_eq!(wide, ["id", "keep_a", "keep_b"]);
    // Every column of `other` is read: nothing to leave out.
    assert!(!kept.contains_key("other"), "{kept:?}");
    assert_eq!(rows, [["a", "x", "1", "b"]]);
    // A reader of every column keeps them all.
    let (kept, rows) = build("SELECT * FROM wide").await;
    assert!(kept.is_empty(), "{kept:?}");
    assert_eq!(rows, [["a", "x", "1", "a", "b", "c", "d"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_view_whose_readers_only_count_its_rows_still_holds_them() {
    // Both readers of `v` use none of its columns: the held rows still count.
    let (_tmp, project, wh) = project(&[
        (
            "models/v.sql",
            "SELECT x, 'a' AS y FROM (VALUES (1), (2), (3)) AS t(x)",
        ),
        ("models/n1.sql", "SELECT count(*) AS n FROM v"),
        ("models/n2.sql", "SELECT count(*) + 10 AS n FROM v"),
        (
            "models/_p.yml",
            "models:\n  - name: v\n    config:\n      materialized: view\n",
        ),
    ]);
    model::run(&project, &wh, &[], &mut |_| {}).await.unwrap();
    let counted = rows(&wh, "SELECT a.n, b.n FROM models.n1 a, models.n2 b").await;
    assert_eq!(counted, [["3", "13"]]);
}

/// The Parquet data files under a model table's directory.
fn data_files(project: &Project, model: &str) -> usize {
    std::fs::read_dir(project.dir.join("warehouse/models").join(model))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".parquet")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_deletes_replaced_versions_past_the_retention_only() {
    let files = [("models/t.sql", "SELECT 7 AS x")];
    // Default retention (a day): the version a rerun replaced keeps its files.
    let (_tmp, kept, wh) = project(&files);
    model::run(&kept, &wh, &[], &mut |_| {}).await.unwrap();
    let one_version = data_files(&kept, "t");
    assert!(one_version > 0);
    model::run(&kept, &wh, &[], &mut |_| {}).await.unwrap();
    assert_eq!(data_files(&kept, "t"), 2 * one_version);

    // No retention: after the rerun only the latest version's files are left, and
    // the table still reads.
    let (tmp, dir) =
        support::project("[warehouse]\nurl = \"file://./warehouse\"\nmodel_retention = \"0s\"\n");
    let _keep = tmp;
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::write(dir.join("models/t.sql"), "SELECT 7 AS x").unwrap();
    let project = Project::load(&dir).unwrap();
    let wh = Warehouse::for_project(&project).unwrap();
    for _ in 0..3 {
        model::run(&project, &wh, &[], &mut |_| {}).await.unwrap();
    }
    assert_eq!(data_files(&project, "t"), one_version);
    let ctx = model::session::open(&wh, &model::udf::Settings::default())
        .await
        .unwrap();
    let rows = ctx
        .sql("SELECT x FROM models.t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
}
