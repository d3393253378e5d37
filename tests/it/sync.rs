//! Diff-based sync against the sandbox CRMs over real HTTP: an unchanged model costs
//! no write calls, a 1% change sends exactly the changed rows and fields, chaos
//! (429, 5xx, timeouts) still lands every row once, rejected rows are kept with
//! their reason and retried, mirror mode deletes, a failing data test blocks the
//! push, and Klaviyo profiles/events land (events once per unique id).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use lockstep::config::{Project, Secret};
use lockstep::connectors::{hubspot, klaviyo};
use lockstep::diff::{Mapped, Mode, SyncSpec};
use lockstep::http::RetryPolicy;
use lockstep::sandbox::{SandboxConfig, SandboxHandle};
use lockstep::sink::{self, Destination, SyncError, SyncOptions};
use lockstep::warehouse::{TableName, Warehouse};
use serde_json::Value;

/// One row of the test model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Person {
    pub email: String,
    pub cents: i128,
    pub orders: String,
    pub last_order_day: i32,
    pub tag: Option<String>,
}

pub(crate) fn people(n: usize) -> Vec<Person> {
    (0..n)
        .map(|i| Person {
            email: format!("p{i:05}@sync.test"),
            cents: 1_000 + i as i128 * 7,
            orders: (i % 9).to_string(),
            last_order_day: 19_700 + (i % 300) as i32,
            tag: (i % 3 != 0).then(|| ["vip", "wholesale"][i % 2].to_string()),
        })
        .collect()
}

/// `orders_count` is text in the model when `text_counts`, so a test can slip in a
/// value HubSpot's number property refuses.
pub(crate) fn batch(rows: &[Person], text_counts: bool) -> RecordBatch {
    let count_type = if text_counts {
        DataType::Utf8
    } else {
        DataType::Int64
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("email", DataType::Utf8, true),
        Field::new("total_spent", DataType::Decimal128(18, 2), true),
        Field::new("orders_count", count_type, true),
        Field::new("last_order_date", DataType::Date32, true),
        Field::new("primary_tag", DataType::Utf8, true),
    ]));
    let counts: ArrayRef = if text_counts {
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.orders.clone()),
        ))
    } else {
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.orders.parse::<i64>().unwrap()),
        ))
    };
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.email.clone()),
            )),
            Arc::new(
                Decimal128Array::from_iter_values(rows.iter().map(|r| r.cents))
                    .with_precision_and_scale(18, 2)
                    .unwrap(),
            ),
            counts,
            Arc::new(Date32Array::from_iter_values(
                rows.iter().map(|r| r.last_order_day),
            )),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.tag.clone()))),
        ],
    )
    .unwrap()
}

pub(crate) async fn write_model(
    warehouse: &Warehouse,
    name: &str,
    rows: &[Person],
    text_counts: bool,
) {
    let b = batch(rows, text_counts);
    warehouse
        .overwrite(
            &TableName::new("models", name).unwrap(),
            b.schema(),
            vec![b],
        )
        .await
        .unwrap();
}

/// A project with an empty models folder and a file:// warehouse.
pub(crate) fn project() -> (tempfile::TempDir, Project, Warehouse) {
    let (tmp, dir) = crate::support::project("[warehouse]\nurl = \"file://./warehouse\"\n");
    std::fs::create_dir_all(dir.join("models")).unwrap();
    let project = Project::load(&dir).unwrap();
    let warehouse = Warehouse::for_project(&project).unwrap();
    (tmp, project, warehouse)
}

pub(crate) fn spec(name: &str, object: &str, mode: Mode) -> SyncSpec {
    let fields = [
        "last_order_date",
        "orders_count",
        "primary_tag",
        "total_spent",
    ]
    .iter()
    .map(|f| Mapped {
        field: f.to_string(),
        column: f.to_string(),
    })
    .collect();
    SyncSpec {
        name: name.into(),
        model: "people".into(),
        object: object.into(),
        key_column: "email".into(),
        key_field: "email".into(),
        fields,
        mode,
    }
}

fn fast(api: lockstep::http::Api) -> lockstep::http::Api {
    api.with_policy(RetryPolicy {
        max_attempts: 12,
        base: Duration::from_millis(20),
        max_backoff: Duration::from_millis(500),
    })
    .with_timeout(Duration::from_millis(1500))
    .unwrap()
}

pub(crate) fn hubspot_dest(handle: &SandboxHandle, spec: &SyncSpec) -> Arc<dyn Destination> {
    let client = hubspot::Client::new(
        "hubspot destination 'crm'".into(),
        handle.base_url.clone(),
        Secret::from_value("HUBSPOT_TOKEN", &handle.credentials.hubspot_token),
        None,
    )
    .unwrap()
    .with_api(fast);
    Arc::new(hubspot::sink::ContactsSink::new(
        "crm",
        client,
        spec.clone(),
    ))
}

fn klaviyo_client(handle: &SandboxHandle) -> klaviyo::Client {
    klaviyo::Client::new(
        "klaviyo destination 'k'".into(),
        handle.base_url.clone(),
        Secret::from_value("KLAVIYO_API_KEY", &handle.credentials.klaviyo_api_key),
        klaviyo::client::REVISION.into(),
    )
    .unwrap()
    .with_api(fast)
}

pub(crate) async fn sandbox(f: impl FnOnce(&mut SandboxConfig)) -> SandboxHandle {
    crate::extract::sandbox(20, 40, f).await
}

/// Live HubSpot contacts of the test population, by email, with their properties.
pub(crate) fn contacts(handle: &SandboxHandle) -> BTreeMap<String, Value> {
    let state = handle.hubspot.state_json();
    let mut out = BTreeMap::new();
    for c in state["contacts"].as_array().unwrap() {
        let props = &c["properties"];
        if c["archived"] == Value::Bool(true) {
            continue;
        }
        if let Some(email) = props["email"]
            .as_str()
            .filter(|e| e.ends_with("@sync.test"))
        {
            assert!(
                out.insert(email.to_string(), props.clone()).is_none(),
                "duplicate contact {email}"
            );
        }
    }
    out
}

/// The contact holds exactly the person's values.
pub(crate) fn assert_matches(props: &Value, p: &Person) {
    let spent = format!("{}.{:02}", p.cents / 100, p.cents % 100);
    assert_eq!(
        props["total_spent"].as_str(),
        Some(spent.as_str()),
        "{}",
        p.email
    );
    assert_eq!(
        props["orders_count"].as_str(),
        Some(p.orders.as_str()),
        "{}",
        p.email
    );
    let day = chrono::NaiveDate::from_num_days_from_ce_opt(p.last_order_day + 719_163).unwrap();
    assert_eq!(
        props["last_order_date"].as_str(),
        Some(day.format("%Y-%m-%d").to_string().as_str()),
        "{}",
        p.email
    );
    assert_eq!(
        props["primary_tag"].as_str(),
        p.tag.as_deref(),
        "{}",
        p.email
    );
}

/// POSTs to HubSpot batch endpoints the sandbox served.
fn batch_writes(handle: &SandboxHandle) -> u64 {
    let log = handle.log.to_json(0);
    log["by_endpoint"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["method"] == "POST" && e["endpoint"].as_str().unwrap_or("").contains("/batch/")
        })
        .map(|e| e["count"].as_u64().unwrap())
        .sum()
}

async fn run_sync(
    project: &Project,
    warehouse: &Warehouse,
    spec: &SyncSpec,
    dest: Arc<dyn Destination>,
) -> sink::SyncOutcome {
    sink::sync(project, warehouse, spec, dest, SyncOptions::default())
        .await
        .unwrap()
}

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

fn spec_mode(mode: Mode) -> SyncSpec {
    spec("people_contacts", "contacts", mode)
}

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

/// `rows` as the model, with the email (key) of row `i` replaced by `keys[i]`.
async fn write_keys(warehouse: &Warehouse, rows: &[Person], keys: Vec<Option<&str>>) {
    let b = batch(rows, false);
    let mut columns = b.columns().to_vec();
    columns[0] = Arc::new(StringArray::from(keys));
    let b = RecordBatch::try_new(b.schema(), columns).unwrap();
    let name = TableName::new("models", "people").unwrap();
    warehouse
        .overwrite(&name, b.schema(), vec![b])
        .await
        .unwrap();
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
