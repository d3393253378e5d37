//! HubSpot contacts synced from a model: only changed rows and fields, every row
//! once under chaos, rejected rows kept and retried, mirror mode, per-item errors
//! and a rejected token.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_model_costs_nothing_and_a_one_percent_change_sends_only_changed_fields() {
    let handle = sandbox(|_| {}).await;
    let (_tmp, project, warehouse) = project();
    let mut rows = people(1000);
    write_model(&warehouse, "people", &rows, false).await;
    let spec = spec("people_contacts", "contacts", Mode::UpdateOrCreate);
    let dest = hubspot_dest(&handle, &spec);

    let first = run_sync(&project, &warehouse, &spec, dest.clone()).await;
    assert_eq!(first.plan.counts.creates, 1000);
    assert_eq!((first.run.acked, first.run.rejected), (1000, 0));
    assert_eq!(first.run.api.requests, 10, "100 rows per batch");
    let crm = contacts(&handle);
    assert_eq!(crm.len(), 1000);
    for p in &rows {
        assert_matches(&crm[&p.email], p);
    }

    handle.log.reset();
    let second = run_sync(&project, &warehouse, &spec, dest.clone()).await;
    assert_eq!(second.plan.counts.unchanged, 1000);
    assert!(second.plan.changes.is_empty());
    assert_eq!(second.run.api.requests, 0);
    assert_eq!(
        batch_writes(&handle),
        0,
        "an unchanged model makes no write calls"
    );

    // 1%: five spend changes and five tag changes.
    for i in 0..5 {
        rows[i * 100].cents += 500;
        rows[i * 100 + 50].tag = Some("winback".into());
    }
    write_model(&warehouse, "people", &rows, false).await;
    handle.log.reset();
    let third = run_sync(&project, &warehouse, &spec, dest.clone()).await;
    assert_eq!(third.plan.counts.updates, 10);
    assert_eq!(third.plan.counts.unchanged, 990);
    assert_eq!(third.run.acked, 10);
    assert_eq!(batch_writes(&handle), 1, "ten rows fit one batch");
    let mut sent: Vec<(String, Vec<String>)> = third
        .plan
        .changes
        .iter()
        .map(|c| {
            let fields = c
                .values
                .iter()
                .map(|(f, _)| spec.fields[*f].field.clone())
                .collect();
            (c.key.clone(), fields)
        })
        .collect();
    sent.sort();
    let mut expected: Vec<(String, Vec<String>)> = (0..5)
        .flat_map(|i| {
            [
                (rows[i * 100].email.clone(), vec!["total_spent".to_string()]),
                (
                    rows[i * 100 + 50].email.clone(),
                    vec!["primary_tag".to_string()],
                ),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(
        sent, expected,
        "only the changed rows, only their changed fields"
    );
    let crm = contacts(&handle);
    for p in &rows {
        assert_matches(&crm[&p.email], p);
    }
    // The plan and the per-row results are warehouse tables.
    let ctx = warehouse.session().await.unwrap();
    let q = format!(
        "SELECT count(*) AS n FROM syncs.results WHERE plan_id = '{}' AND status = 'acked'",
        third.plan.id
    );
    let n = lockstep::query::run(&ctx, &q).await.unwrap();
    assert_eq!(crate::support::text_rows(&n), vec![vec!["10".to_string()]]);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_chaos_every_row_lands_exactly_once() {
    let handle = sandbox(|c| {
        c.chaos.error_429 = 0.10;
        c.chaos.error_500 = 0.03;
        c.chaos.error_503 = 0.02;
        c.chaos.timeout_rate = 0.03;
        c.chaos.timeout_secs = 3.0;
        c.chaos.seed = 5;
    })
    .await;
    let (_tmp, project, warehouse) = project();
    let rows = people(1500);
    write_model(&warehouse, "people", &rows, false).await;
    let spec = spec("chaos_contacts", "contacts", Mode::UpdateOrCreate);
    let dest = hubspot_dest(&handle, &spec);
    let outcome = run_sync(&project, &warehouse, &spec, dest.clone()).await;
    assert_eq!(outcome.run.error, None);
    assert_eq!((outcome.run.acked, outcome.run.rejected), (1500, 0));
    assert!(
        outcome.run.api.retries > 0,
        "chaos was exercised: {:?}",
        outcome.run.api
    );
    // Read the CRM back (still under chaos) and measure record fidelity.
    let reader = hubspot::HubSpotSource::new(
        "hubspot",
        hubspot::Client::new(
            "hubspot source 'hubspot'".into(),
            handle.base_url.clone(),
            Secret::from_value("HUBSPOT_TOKEN", &handle.credentials.hubspot_token),
            None,
        )
        .unwrap()
        .with_api(fast),
    );
    lockstep::extract::run::run(
        &warehouse,
        &reader,
        Some("contacts"),
        lockstep::extract::run::Mode::Incremental(Default::default()),
    )
    .await
    .unwrap();
    let fidelity = lockstep::audit::measure(
        &warehouse,
        &TableName::new("raw_hubspot", "contacts").unwrap(),
        &TableName::new("models", "people").unwrap(),
        "after chaos sync",
    )
    .await
    .unwrap();
    assert_eq!(
        (fidelity.sampled, fidelity.matched),
        (1500, 1500),
        "{fidelity:?}"
    );
    assert_eq!(fidelity.percent, 100.0);
    handle.chaos.set(Default::default()).unwrap();
    let crm = contacts(&handle);
    assert_eq!(crm.len(), 1500, "every row once, no duplicates");
    for p in &rows {
        assert_matches(&crm[&p.email], p);
    }
    let again = run_sync(&project, &warehouse, &spec, dest).await;
    assert!(
        again.plan.changes.is_empty(),
        "the snapshot agrees with the CRM"
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_row_is_kept_with_its_reason_and_retried() {
    let handle = sandbox(|_| {}).await;
    let (_tmp, project, warehouse) = project();
    let mut rows = people(150);
    rows[42].orders = "many".into();
    write_model(&warehouse, "people", &rows, true).await;
    let spec = spec("reject_contacts", "contacts", Mode::UpdateOrCreate);
    let dest = hubspot_dest(&handle, &spec);

    let first = run_sync(&project, &warehouse, &spec, dest.clone()).await;
    assert_eq!((first.run.acked, first.run.rejected), (149, 1));
    assert_eq!(first.run.status, "rejects");
    assert_eq!(first.run.sample_rejects[0].0, rows[42].email);
    assert_eq!(
        contacts(&handle).len(),
        149,
        "the batch was split around the bad row"
    );
    let ctx = warehouse.session().await.unwrap();
    let got = lockstep::query::run(&ctx, "SELECT key, reason, \"values\" FROM syncs.rejects")
        .await
        .unwrap();
    let got = crate::support::text_rows(&got);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0][0], rows[42].email);
    assert!(
        got[0][1].contains("orders_count") || got[0][1].contains("many"),
        "{}",
        got[0][1]
    );
    assert!(got[0][2].contains("\"many\""), "{}", got[0][2]);

    // Not acknowledged, so planned again next run.
    let second = run_sync(&project, &warehouse, &spec, dest.clone()).await;
    assert_eq!(second.plan.counts.creates, 1);
    assert_eq!(second.plan.changes[0].key, rows[42].email);
    assert_eq!(second.run.rejected, 1);
    // Fixed at the source: it lands.
    rows[42].orders = "4".into();
    write_model(&warehouse, "people", &rows, true).await;
    let third = run_sync(&project, &warehouse, &spec, dest).await;
    assert_eq!((third.run.acked, third.run.rejected), (1, 0));
    let crm = contacts(&handle);
    assert_eq!(crm.len(), 150);
    assert_matches(&crm[&rows[42].email], &rows[42]);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_mode_deletes_or_clears_what_left_the_model() {
    let handle = sandbox(|_| {}).await;
    let (_tmp, project, warehouse) = project();
    let mut rows = people(120);
    write_model(&warehouse, "people", &rows, false).await;
    let spec = spec("mirror_contacts", "contacts", Mode::Mirror { clear: false });
    let dest = hubspot_dest(&handle, &spec);
    run_sync(&project, &warehouse, &spec, dest.clone()).await;

    let gone: Vec<Person> = rows.drain(10..15).collect();
    rows.extend(people(123).into_iter().skip(120));
    rows[0].orders = "8".into();
    write_model(&warehouse, "people", &rows, false).await;
    let second = run_sync(&project, &warehouse, &spec, dest).await;
    let c = second.plan.counts;
    assert_eq!((c.creates, c.updates, c.deletes), (3, 1, 5));
    let crm = contacts(&handle);
    assert_eq!(crm.len(), 118);
    for p in &gone {
        assert!(!crm.contains_key(&p.email), "{} deleted", p.email);
    }
    for p in &rows {
        assert_matches(&crm[&p.email], p);
    }

    // on_delete = clear keeps the contact and empties the synced fields.
    let clear = SyncSpec {
        name: "mirror_clear".into(),
        ..spec_mode(Mode::Mirror { clear: true })
    };
    let dest = hubspot_dest(&handle, &clear);
    run_sync(&project, &warehouse, &clear, dest.clone()).await;
    let left = rows.pop().unwrap();
    write_model(&warehouse, "people", &rows, false).await;
    let cleared = run_sync(&project, &warehouse, &clear, dest).await;
    assert_eq!(cleared.plan.counts.deletes, 1);
    let crm = contacts(&handle);
    let props = &crm[&left.email];
    assert!(
        props["total_spent"].is_null() && props["primary_tag"].is_null(),
        "{props}"
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_item_errors_reject_only_their_rows_and_update_only_leaves_new_keys_alone() {
    let handle = sandbox(|_| {}).await;
    let (_tmp, project, warehouse) = project();
    let mut rows = people(60);
    rows[7].orders = "many".into();
    // Keyed by a unique property other than email, HubSpot answers 207 per item.
    let schema_rows = {
        let b = batch(&rows, true);
        let golden: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows.len()).map(|i| format!("g{i}")),
        ));
        let mut fields = b.schema().fields().to_vec();
        fields.push(Arc::new(Field::new("golden_id", DataType::Utf8, false)));
        let mut columns = b.columns().to_vec();
        columns.push(golden);
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    };
    warehouse
        .overwrite(
            &TableName::new("models", "people").unwrap(),
            schema_rows.schema(),
            vec![schema_rows],
        )
        .await
        .unwrap();
    let mut by_golden = spec("golden_contacts", "contacts", Mode::UpdateOrCreate);
    by_golden.key_column = "golden_id".into();
    by_golden.key_field = "lockstep_golden_id".into();
    by_golden.fields.push(Mapped {
        field: "email".into(),
        column: "email".into(),
    });
    by_golden.fields.sort_by(|a, b| a.field.cmp(&b.field));
    let out = run_sync(
        &project,
        &warehouse,
        &by_golden,
        hubspot_dest(&handle, &by_golden),
    )
    .await;
    assert_eq!((out.run.acked, out.run.rejected), (59, 1));
    assert_eq!(out.run.api.requests, 1, "a 207 needs no split");
    assert_eq!(out.run.sample_rejects[0].0, "g7");
    assert_eq!(contacts(&handle).len(), 59);

    // update_only: keys the CRM does not have are rejected, not created.
    let mut fresh = people(65);
    fresh.drain(..60);
    write_model(&warehouse, "people", &fresh, false).await;
    let update_only = spec("update_only_contacts", "contacts", Mode::UpdateOnly);
    let out = run_sync(
        &project,
        &warehouse,
        &update_only,
        hubspot_dest(&handle, &update_only),
    )
    .await;
    assert_eq!(out.plan.counts.updates, 5);
    assert_eq!((out.run.acked, out.run.rejected), (0, 5));
    assert_eq!(contacts(&handle).len(), 59, "nothing created");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_stops_the_sync_with_one_clear_reason() {
    let handle = sandbox(|_| {}).await;
    let (_tmp, project, warehouse) = project();
    write_model(&warehouse, "people", &people(10), false).await;
    let spec = spec("auth_contacts", "contacts", Mode::UpdateOrCreate);
    let client = hubspot::Client::new(
        "hubspot destination 'crm'".into(),
        handle.base_url.clone(),
        Secret::from_value("HUBSPOT_TOKEN", "pat-wrong"),
        None,
    )
    .unwrap();
    let dest = Arc::new(hubspot::sink::ContactsSink::new(
        "crm",
        client,
        spec.clone(),
    ));
    let out = run_sync(&project, &warehouse, &spec, dest).await;
    assert_eq!(out.run.status, "failed");
    let error = out.run.error.unwrap();
    assert!(
        error.contains("401") && error.contains("HUBSPOT_TOKEN"),
        "{error}"
    );
    assert!(
        !error.contains("pat-wrong"),
        "the token is never printed: {error}"
    );
    assert_eq!(out.run.api.requests, 1, "401 is not retried");
    let again = run_sync(&project, &warehouse, &spec, hubspot_dest(&handle, &spec)).await;
    assert_eq!(
        again.plan.counts.creates, 10,
        "nothing was acknowledged, so all is planned again"
    );
    assert_eq!(again.run.acked, 10);
    handle.shutdown().await;
}
