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

mod gates;
mod hubspot_contacts;
mod klaviyo_profiles;

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

fn spec_mode(mode: Mode) -> SyncSpec {
    spec("people_contacts", "contacts", mode)
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
