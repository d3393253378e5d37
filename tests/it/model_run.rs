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
    let ctx = model::session::open(&wh, &model::udf::Settings::default())
        .await
        .unwrap();
    let batches = ctx
        .sql("SELECT x FROM models.both")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let x = arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    // a3 = 3, b3 = 30, v = 1 + 10.
    assert!(x.contains("| 44 |"), "{x}");
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
