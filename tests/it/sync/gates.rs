//! What stops a sync before it writes: a failing data test upstream, and null or
//! repeated keys in the model.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_data_test_upstream_blocks_the_sync() {
    let handle = sandbox(|_| {}).await;
    let (_tmp, project, warehouse) = project();
    let models = project.models_dir();
    std::fs::write(models.join("people.sql"), "SELECT * FROM raw_src.people\n").unwrap();
    std::fs::write(
        models.join("_people.yml"),
        "models:\n  - name: people\n    columns:\n      - name: primary_tag\n        data_tests: [not_null]\n",
    )
    .unwrap();
    let b = batch(&people(30), false);
    warehouse
        .append(
            &TableName::new("raw_src", "people").unwrap(),
            b.schema(),
            vec![b],
        )
        .await
        .unwrap();
    lockstep::model::run(&project, &warehouse, &[], &mut |_| {})
        .await
        .unwrap();
    let report = lockstep::model::test(&project, &warehouse, &[])
        .await
        .unwrap();
    assert!(!report.passed(), "a third of the tags are NULL");

    let spec = spec("blocked_contacts", "contacts", Mode::UpdateOrCreate);
    handle.log.reset();
    let err = sink::sync(
        &project,
        &warehouse,
        &spec,
        hubspot_dest(&handle, &spec),
        SyncOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SyncError::Blocked { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("people") && text.contains("not_null"),
        "{text}"
    );
    assert_eq!(batch_writes(&handle), 0);
    assert_eq!(contacts(&handle).len(), 0);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_and_repeated_keys_fail_the_plan_with_examples() {
    use lockstep::diff::{DiffError, baseline, diff};
    let (_tmp, _project, warehouse) = project();
    let rows = people(40);
    write_model(&warehouse, "people", &rows, false).await;
    let spec = spec_mode(Mode::UpdateOrCreate);
    assert_eq!(baseline(&warehouse, &spec).await.unwrap(), 40);

    // A key the snapshot has, repeated twice more, and a new key repeated once.
    let mut keys: Vec<String> = rows.iter().map(|r| r.email.clone()).collect();
    keys[10] = keys[3].clone();
    keys[20] = keys[3].clone();
    keys[30] = "new@sync.test".into();
    keys[31] = "new@sync.test".into();
    write_keys(
        &warehouse,
        &rows,
        keys.iter().map(|k| Some(k.as_str())).collect(),
    )
    .await;
    let Err(DiffError::Keys { problem, .. }) = diff(&warehouse, &spec).await else {
        panic!("repeated keys planned")
    };
    assert!(
        problem.contains("3 duplicate value(s) of key column `email`"),
        "{problem}"
    );
    assert!(problem.contains("p00003@sync.test"), "{problem}");
    assert!(problem.contains("new@sync.test"), "{problem}");

    let mut keys: Vec<Option<&str>> = rows.iter().map(|r| Some(r.email.as_str())).collect();
    keys[7] = None;
    write_keys(&warehouse, &rows, keys).await;
    let Err(DiffError::Keys { problem, .. }) = diff(&warehouse, &spec).await else {
        panic!("a NULL key planned")
    };
    assert!(
        problem.contains("1 row(s) whose key column `email` is NULL"),
        "{problem}"
    );
    // The example names the row by its values.
    assert!(problem.contains("orders_count=7"), "{problem}");
}
