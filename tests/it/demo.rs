//! `lockstep demo` end to end through the real binary: it creates a project, lands
//! every store record from the sandbox, and its JSON report agrees with the store.

use std::process::Command;

#[test]
fn demo_lands_the_generated_store_and_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let out = Command::new(crate::support::lockstep_bin())
        .args([
            "demo",
            "--customers",
            "120",
            "--orders",
            "400",
            "--json",
            "--dir",
        ])
        .arg(&dir)
        .current_dir(tmp.path()) // no ./models here: nothing to build
        .output()
        .unwrap();
    let stdout = crate::support::stdout_ok(&out);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["store"]["orders"], 400);
    let shop = report["extracted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "shop")
        .unwrap();
    assert_eq!(shop["rows"]["raw_shop.orders"], 400);
    assert_eq!(
        shop["rows"]["raw_shop.customers"],
        report["store"]["customers"]
    );
    assert!(shop["api"]["requests"].as_u64().unwrap() >= 4);
    for source in ["hubspot", "klaviyo"] {
        let s = report["extracted"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == source)
            .unwrap();
        assert!(
            s["rows"]
                .as_object()
                .unwrap()
                .values()
                .any(|n| n.as_u64().unwrap_or(0) > 0),
            "{source}"
        );
    }
    assert_eq!(report["models"].as_array().map(Vec::len), Some(0));
    // The project it leaves behind is a working lockstep project.
    let count = crate::support::lockstep(
        &dir,
        &["sql", "--csv", "SELECT count(*) AS n FROM raw_shop.orders"],
    );
    assert_eq!(crate::support::stdout_ok(&count).trim(), "n\n400");
    // A second demo into the same folder refuses rather than mixing runs.
    let again = Command::new(crate::support::lockstep_bin())
        .args(["demo", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a lockstep.toml"));
}

#[test]
fn demo_builds_the_default_models_on_what_it_extracted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let out = Command::new(crate::support::lockstep_bin())
        .args([
            "demo",
            "--customers",
            "80",
            "--orders",
            "250",
            "--json",
            "--dir",
        ])
        .arg(&dir)
        .arg("--models")
        .arg(&models)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&crate::support::stdout_ok(&out)).unwrap();
    let built: Vec<&str> = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["model"].as_str())
        .collect();
    for model in [
        "golden_customers",
        "customer_ltv",
        "crm_profiles",
        "finance_daily",
        "orders_fx",
    ] {
        assert!(built.contains(&model), "{model} not built: {built:?}");
    }
    // Every order that counts in sales (not a test, not voided) is in orders_fx.
    let n = crate::support::lockstep(
        &dir,
        &["sql", "--csv", "SELECT count(*) AS n FROM models.orders_fx"],
    );
    let tests = crate::support::lockstep(
        &dir,
        &[
            "sql",
            "--csv",
            "SELECT count(*) AS n FROM raw_shop.orders WHERE (NOT test) AND (financial_status <> 'voided')",
        ],
    );
    assert_eq!(
        crate::support::stdout_ok(&n),
        crate::support::stdout_ok(&tests)
    );
    // The syncs pushed crm_profiles to HubSpot and Klaviyo; HubSpot read back
    // matches the warehouse, and a second sync of the unchanged model sent nothing.
    assert_eq!(report["tests"]["failed"], 0, "{}", report["tests"]);
    let syncs = report["syncs"].as_array().unwrap();
    assert_eq!(syncs.len(), 2);
    for s in syncs {
        assert_eq!(s["rejected"], 0, "{s}");
        assert!(s["acked"].as_u64().unwrap() > 0, "{s}");
    }
    let before = report["fidelity_before"]["percent"].as_f64().unwrap();
    let after = report["fidelity_after"]["percent"].as_f64().unwrap();
    assert!(
        before < 100.0,
        "the sandbox CRM starts with drift: {before}"
    );
    assert_eq!(after, 100.0, "{}", report["fidelity_after"]);
    assert_eq!(report["resync_write_calls"], 0);
}

/// Without `--json` the report says the same on a terminal: syncs, fidelity before
/// and after, and the cost of a second sync.
#[test]
fn demo_text_report_shows_syncs_and_fidelity() {
    let tmp = tempfile::tempdir().unwrap();
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let out = Command::new(crate::support::lockstep_bin())
        .args(["demo", "--customers", "60", "--orders", "200", "--dir"])
        .arg(tmp.path().join("demo"))
        .arg("--models")
        .arg(&models)
        .output()
        .unwrap();
    let text = crate::support::stdout_ok(&out);
    for expected in [
        "data tests: ",
        "hubspot_contacts",
        "klaviyo_profiles",
        "record fidelity before sync: ",
        "record fidelity after sync : 100.0%",
        "second sync of the unchanged model: 0 write calls",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(text.contains(", 0 failed"), "{text}");
}
