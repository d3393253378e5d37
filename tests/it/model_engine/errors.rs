//! Located errors: broken SQL, cycles, unknown tables and YAML mistakes name
//! their file and line.

use super::*;

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
