//! The CLI over the core: config errors as one located line with a non-zero exit,
//! `init`, `status --json`, and `sql` errors pointing into the query.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{self, lockstep};

/// Run `status` on a project file and return (exit success, stderr lines).
fn status_with(body: &str) -> (bool, Vec<String>) {
    let (_tmp, dir) = support::project(body);
    let out = lockstep(&dir, &["status"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        out.status.success(),
        stderr.lines().map(str::to_owned).collect(),
    )
}

fn assert_one_located_line(body: &str, line: usize, key: &str) {
    let (ok, stderr) = status_with(body);
    assert!(!ok, "expected failure for {body:?}");
    assert_eq!(stderr.len(), 1, "one line expected, got {stderr:?}");
    let l = &stderr[0];
    assert!(
        l.contains(&format!("lockstep.toml:{line}:")),
        "no file:line in {l}"
    );
    assert!(l.contains(key), "key {key} missing in {l}");
}

#[test]
fn config_errors_are_one_line_with_file_line_and_key() {
    assert_one_located_line("[project]\nname = \"x\"\nnmae = \"y\"\n", 3, "project.nmae");
    assert_one_located_line(
        "[project]\nreporting_currency = 42\n",
        2,
        "project.reporting_currency",
    );
    assert_one_located_line(
        "[sources.shop]\nkind = \"shopify\"\nshop = \"s\"\naccess_token = \"${LOCKSTEP_IT_UNSET_VAR}\"\n",
        4,
        "sources.shop.access_token",
    );
    let (_, stderr) = status_with(
        "[sources.shop]\nkind = \"shopify\"\nshop = \"s\"\naccess_token = \"${LOCKSTEP_IT_UNSET_VAR}\"\n",
    );
    assert!(stderr[0].contains("LOCKSTEP_IT_UNSET_VAR"), "{stderr:?}");
    assert_one_located_line(
        "[warehouse]\nurl = \"warehouse-without-scheme\"\n",
        2,
        "warehouse.url",
    );
    assert_one_located_line(
        "[warehouse]\nurl = \"hdfs://cluster/x\"\n",
        2,
        "warehouse.url",
    );
}

#[test]
fn missing_project_file_says_how_to_create_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = lockstep(tmp.path(), &["status"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lockstep.toml") && err.contains("lockstep init"),
        "{err}"
    );
}

#[test]
fn init_scaffolds_a_working_project_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    let out = Command::new(support::lockstep_bin())
        .args(["init"])
        .arg(&dir)
        .output()
        .unwrap();
    support::stdout_ok(&out);
    assert!(dir.join("models").is_dir());
    let status = lockstep(&dir, &["status", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&support::stdout_ok(&status)).unwrap();
    assert_eq!(report["tables"].as_array().map(Vec::len), Some(0));
    assert!(
        report["warehouse"]
            .as_str()
            .unwrap()
            .ends_with("/shop/warehouse/")
    );
    let again = Command::new(support::lockstep_bin())
        .args(["init"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test]
async fn status_reports_versions_rows_and_commit_times() {
    let (_tmp, dir) = support::project("");
    let project = lockstep::config::Project::load(&dir).unwrap();
    let wh = lockstep::warehouse::Warehouse::for_project(&project).unwrap();
    let name = lockstep::warehouse::TableName::parse("raw_shopify.orders").unwrap();
    for b in 0..3 {
        wh.append(
            &name,
            support::orders_schema(),
            vec![support::orders_batch(b, 4)],
        )
        .await
        .unwrap();
    }
    let out = lockstep(&dir, &["status", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&support::stdout_ok(&out)).unwrap();
    let t = &report["tables"][0];
    assert_eq!(t["table"], "raw_shopify.orders");
    assert_eq!(t["version"], 3);
    assert_eq!(t["rows"], 12);
    assert_eq!(t["last_operation"], "WRITE");
    let committed =
        chrono::DateTime::parse_from_rfc3339(t["last_commit"].as_str().unwrap()).unwrap();
    assert!(
        (chrono::Utc::now() - committed.to_utc())
            .num_seconds()
            .abs()
            < 300
    );
    let text = support::stdout_ok(&lockstep(&dir, &["status"]));
    assert!(
        text.contains("raw_shopify.orders") && text.contains("WRITE"),
        "{text}"
    );
}

#[test]
fn sql_plans_queries_as_model_builds_do() {
    // The staging dedupe idiom gets the model session's row numbering, and the
    // model functions are there.
    let (_tmp, dir) = support::project("");
    let plan = support::stdout_ok(&lockstep(
        &dir,
        &[
            "sql",
            "--csv",
            "EXPLAIN SELECT x, e164(p, 'US') FROM (SELECT x, p, row_number() OVER (PARTITION BY x ORDER BY y DESC) AS rn \
             FROM (VALUES (1, 2, '(415) 555-2671'), (1, 3, NULL)) t(x, y, p)) WHERE rn = 1",
        ],
    ));
    assert!(plan.contains("SortedRowNumberExec"), "{plan}");
}

#[test]
fn sql_reads_stdin_and_locates_errors() {
    let (_tmp, dir) = support::project("");
    let mut child = Command::new(support::lockstep_bin())
        .arg("--project")
        .arg(&dir)
        .args(["sql", "--csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT 40 + 2 AS answer")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(support::stdout_ok(&out).trim(), "answer\n42");

    let bad = lockstep(&dir, &["sql", "SELECT id\nFROM   raw_shopify.nothing"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("query:2:8") && err.contains("nothing"),
        "{err}"
    );

    let syntax = lockstep(&dir, &["sql", "SELEC 1"]);
    let err = String::from_utf8_lossy(&syntax.stderr);
    assert!(
        !syntax.status.success() && err.contains("query:1:1"),
        "{err}"
    );
}

#[test]
fn vacuum_deletes_only_what_old_versions_read_and_dry_run_only_counts() {
    let (_tmp, dir) = support::project("[warehouse]\nurl = \"file://./warehouse\"\n");
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::write(dir.join("models/t.sql"), "SELECT 7 AS x").unwrap();
    let files = || {
        std::fs::read_dir(dir.join("warehouse/models/t"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("parquet".as_ref()))
            .count()
    };
    for _ in 0..2 {
        assert!(lockstep(&dir, &["run"]).status.success());
    }
    let both = files();
    let stdout = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();

    // The default retention (a week) keeps the version replaced a moment ago.
    let out = lockstep(&dir, &["vacuum"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains(", 0 file(s) deleted"),
        "{}",
        stdout(&out)
    );

    let out = lockstep(&dir, &["vacuum", "--retain", "0s", "--dry-run", "models.t"]);
    assert!(out.status.success());
    let replaced = both / 2;
    assert!(
        stdout(&out).contains(&format!("models.t: would delete {replaced} file(s)")),
        "{}",
        stdout(&out)
    );
    assert_eq!(files(), both);

    let out = lockstep(&dir, &["vacuum", "--retain", "0s", "models.t"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains(&format!("models.t: deleted {replaced} file(s)")));
    assert_eq!(files(), both - replaced);
    let out = lockstep(&dir, &["sql", "SELECT x FROM models.t"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains('7'));

    let out = lockstep(&dir, &["vacuum", "--retain", "2 hours"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--retain"), "{stderr}");
}

#[test]
fn a_bad_model_retention_is_one_located_line() {
    assert_one_located_line(
        "[warehouse]\nurl = \"file://./warehouse\"\nmodel_retention = \"soon\"\n",
        3,
        "warehouse.model_retention",
    );
}
