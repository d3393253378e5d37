//! Klaviyo profiles through import and bulk jobs, and events once per unique id.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn klaviyo_profiles_land_through_import_and_bulk_jobs_and_events_once_per_unique_id() {
    let handle = sandbox(|c| c.klaviyo.bulk_job_step_ms = 50).await;
    let (_tmp, project, warehouse) = project();
    let profiles = |handle: &SandboxHandle| -> BTreeMap<String, Value> {
        handle.klaviyo.state_json()["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| Some((p["email"].as_str()?.to_string(), p.clone())))
            .filter(|(e, _)| e.ends_with("@sync.test"))
            .collect()
    };
    // 20 rows go one by one through profile-import, 300 through a bulk job.
    for (name, n) in [("small_profiles", 20usize), ("large_profiles", 300)] {
        let rows = people(n);
        write_model(&warehouse, "people", &rows, false).await;
        let spec = spec(name, "profiles", Mode::UpdateOrCreate);
        let dest = Arc::new(klaviyo::sink::ProfilesSink::new(
            "k",
            klaviyo_client(&handle),
            spec.clone(),
        ));
        let out = run_sync(&project, &warehouse, &spec, dest).await;
        assert_eq!((out.run.acked, out.run.rejected), (n as u64, 0), "{name}");
        let got = profiles(&handle);
        for p in &rows {
            let props = &got[&p.email]["properties"];
            let spent = format!("{}.{:02}", p.cents / 100, p.cents % 100);
            assert_eq!(
                props["total_spent"].as_str(),
                Some(spent.as_str()),
                "{name} {}",
                p.email
            );
            assert_eq!(props["primary_tag"].as_str(), p.tag.as_deref());
        }
    }

    // Events: an order model keyed by a deterministic event id.
    let schema = Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("metric", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, false),
        Field::new("value", DataType::Decimal128(18, 2), false),
    ]));
    let ids: Vec<String> = (0..12).map(|i| format!("placed-order-{i}")).collect();
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(ids.iter().cloned())),
            Arc::new(StringArray::from(vec!["Placed Order"; 12])),
            Arc::new(StringArray::from_iter_values(
                (0..12).map(|i| format!("p{i:05}@sync.test")),
            )),
            Arc::new(
                Decimal128Array::from(vec![2599i128; 12])
                    .with_precision_and_scale(18, 2)
                    .unwrap(),
            ),
        ],
    )
    .unwrap();
    warehouse
        .overwrite(
            &TableName::new("models", "order_events").unwrap(),
            schema,
            vec![b],
        )
        .await
        .unwrap();
    let events_spec = |name: &str| SyncSpec {
        name: name.into(),
        model: "order_events".into(),
        object: "events".into(),
        key_column: "event_id".into(),
        key_field: "unique_id".into(),
        fields: [("email", "email"), ("metric", "metric"), ("value", "value")]
            .iter()
            .map(|(f, c)| Mapped {
                field: f.to_string(),
                column: c.to_string(),
            })
            .collect(),
        mode: Mode::CreateOnly,
    };
    // Two syncs with separate snapshots send the same events twice: Klaviyo keeps one.
    for name in ["order_events", "order_events_replay"] {
        let spec = events_spec(name);
        let dest = Arc::new(
            klaviyo::sink::EventsSink::new("k", klaviyo_client(&handle), spec.clone()).unwrap(),
        );
        let out = run_sync(&project, &warehouse, &spec, dest).await;
        assert_eq!(out.run.acked, 12, "{name}");
    }
    let events = handle.klaviyo.state_json()["events"]
        .as_array()
        .unwrap()
        .clone();
    let ours: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["unique_id"]
                .as_str()
                .is_some_and(|u| u.starts_with("placed-order-"))
        })
        .collect();
    assert_eq!(ours.len(), 12, "one event per unique_id");
    assert!(ours.iter().all(|e| e["metric"] == "Placed Order"));
    handle.shutdown().await;
}
