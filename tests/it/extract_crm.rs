//! HubSpot contacts and Klaviyo profiles extracted from the sandbox land exactly
//! the records the emulators hold, and a second run lands nothing new.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::AsArray;
use lockstep::config::Secret;
use lockstep::connectors::{hubspot, klaviyo};
use lockstep::extract::run::{Mode, run};
use lockstep::extract::{Source, incremental};
use lockstep::warehouse::{Location, Warehouse};

use crate::extract::sandbox;

async fn ids(wh: &Warehouse, sql: &str) -> Vec<String> {
    let ctx = wh.session().await.unwrap();
    let mut out = Vec::new();
    for b in ctx.sql(sql).await.unwrap().collect().await.unwrap() {
        let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        for i in 0..b.num_rows() {
            out.push(c.as_string::<i32>().value(i).to_string());
        }
    }
    out
}

async fn twice(wh: &Warehouse, source: &dyn Source) -> (u64, u64) {
    let opts = Mode::Incremental(incremental::Options::default());
    let first = run(wh, source, None, opts).await.unwrap();
    let second = run(wh, source, None, opts).await.unwrap();
    let count = |r: &Vec<lockstep::extract::StreamReport>| {
        r.iter().flat_map(|r| r.rows.values()).sum::<u64>()
    };
    (count(&first), count(&second))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubspot_contacts_and_klaviyo_profiles_land_exactly() {
    let handle = sandbox(300, 300, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(
        Location::parse("file://./wh", dir.path()).unwrap(),
        &BTreeMap::new(),
    )
    .unwrap();

    let hs_token = Secret::from_value("HUBSPOT_TOKEN", &handle.credentials.hubspot_token);
    let hs = hubspot::HubSpotSource::new(
        "crm",
        hubspot::Client::new(
            "hubspot source 'crm'".into(),
            handle.base_url.clone(),
            hs_token,
            None,
        )
        .unwrap(),
    );
    let (first, second) = twice(&wh, &hs).await;
    let state = handle.hubspot.state_json();
    let expected: BTreeSet<String> = state["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["id"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| c["id"].to_string())
        })
        .collect();
    assert!(!expected.is_empty());
    let landed = ids(&wh, "SELECT id FROM raw_crm.contacts").await;
    assert_eq!(landed.len(), expected.len(), "each contact once");
    assert_eq!(landed.into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(first as usize, expected.len());
    assert_eq!(second, 0, "nothing changed, nothing landed");

    let kl_key = Secret::from_value("KLAVIYO_API_KEY", &handle.credentials.klaviyo_api_key);
    let kl = klaviyo::KlaviyoSource::new(
        "mkt",
        klaviyo::Client::new(
            "klaviyo source 'mkt'".into(),
            handle.base_url.clone(),
            kl_key,
            klaviyo::client::REVISION.into(),
        )
        .unwrap(),
    );
    let (first, second) = twice(&wh, &kl).await;
    let state = handle.klaviyo.state_json();
    let expected: BTreeSet<String> = state["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!expected.is_empty());
    let landed = ids(&wh, "SELECT id FROM raw_mkt.profiles").await;
    assert_eq!(landed.len(), expected.len(), "each profile once");
    assert_eq!(landed.into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(first as usize, expected.len());
    assert_eq!(second, 0);
    handle.shutdown().await;
}
