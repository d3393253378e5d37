//! `lockstep plan` / `lockstep sync` through the real binary against the sandbox: a
//! stored plan applied by id, a sync killed with SIGKILL mid-way and run again
//! (the CRM ends equal to the model, no duplicates, nothing lost), and sync
//! definitions that cannot work refused at load time with file:line.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lockstep::warehouse::{Location, Warehouse};

use crate::sync::{assert_matches, contacts, people, sandbox, write_model};

fn toml(base_url: &str) -> String {
    format!(
        r#"[warehouse]
url = "file://./warehouse"

[destinations.crm]
kind = "hubspot"
token = "${{LOCKSTEP_TEST_HUBSPOT_TOKEN}}"
base_url = "{base_url}"

[syncs.people_to_crm]
model = "people"
destination = "crm"
object = "contacts"
key = {{ model = "email", destination = "email" }}
fields = {{ total_spent = "total_spent", orders_count = "orders_count", last_order_date = "last_order_date", primary_tag = "primary_tag" }}
"#
    )
}

/// The project's warehouse, opened without loading lockstep.toml (whose token
/// reference only the child processes' environment resolves).
fn warehouse(dir: &Path) -> Warehouse {
    let location = Location::parse("file://./warehouse", dir).unwrap();
    Warehouse::open(location, &Default::default()).unwrap()
}

/// Run a verb with `--json` among `args` and parse its report.
fn cli_json(dir: &Path, token: &str, args: &[&str]) -> serde_json::Value {
    let out = cli(dir, token, args).output().unwrap();
    serde_json::from_str(&crate::support::stdout_ok(&out)).unwrap()
}

fn cli(dir: &Path, token: &str, args: &[&str]) -> Command {
    let mut c = Command::new(crate::support::lockstep_bin());
    c.arg("--project")
        .arg(dir)
        .args(args)
        .env("LOCKSTEP_TEST_HUBSPOT_TOKEN", token)
        .env_remove("LOCKSTEP_FAILPOINT");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_plan_is_applied_by_id_and_not_twice() {
    let handle = sandbox(|_| {}).await;
    let (_tmp, dir) = crate::support::project(&toml(&handle.base_url));
    let warehouse = warehouse(&dir);
    let rows = people(250);
    write_model(&warehouse, "people", &rows, false).await;
    let token = handle.credentials.hubspot_token.clone();

    let plan = cli_json(&dir, &token, &["plan", "people_to_crm", "--json"]);
    assert_eq!(plan["counts"]["creates"], 250);
    assert_eq!(plan["sample"].as_array().unwrap().len(), 10);
    let id = plan["id"].as_str().unwrap().to_string();
    assert!(contacts(&handle).is_empty(), "planning sends nothing");

    let dry = cli(
        &dir,
        &token,
        &["sync", "people_to_crm", "--plan", &id, "--dry-run"],
    )
    .output()
    .unwrap();
    assert!(crate::support::stdout_ok(&dry).contains("would send"));
    assert!(contacts(&handle).is_empty(), "a dry run sends nothing");

    let report = cli_json(
        &dir,
        &token,
        &["sync", "people_to_crm", "--plan", &id, "--json"],
    );
    assert_eq!(report["run"]["acked"], 250);
    assert_eq!(report["run"]["api"]["requests"], 3);
    let crm = contacts(&handle);
    for p in &rows {
        assert_matches(&crm[&p.email], p);
    }
    // Applying the same plan again finds every row delivered.
    let again = cli_json(
        &dir,
        &token,
        &["sync", "people_to_crm", "--plan", &id, "--json"],
    );
    assert_eq!(again["already_delivered"], 250);
    assert_eq!(again["run"]["api"]["requests"], 0);
    // Runs are a warehouse table.
    let out = cli(
        &dir,
        &token,
        &[
            "sql",
            "--csv",
            "SELECT count(*) AS n FROM syncs.runs WHERE NOT dry_run",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(crate::support::stdout_ok(&out).trim(), "n\n2");
    // An unknown plan id is one clear line.
    let out = cli(&dir, &token, &["sync", "people_to_crm", "--plan", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plan nope") && err.lines().count() == 1,
        "{err}"
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_sync_then_rerun_leaves_the_crm_equal_to_the_model() {
    // Latency makes the run long enough to kill in the middle.
    let handle = sandbox(|c| c.chaos.latency_ms = 120).await;
    let (_tmp, dir) = crate::support::project(&toml(&handle.base_url));
    let warehouse = warehouse(&dir);
    let rows = people(4000);
    write_model(&warehouse, "people", &rows, false).await;
    let token = handle.credentials.hubspot_token.clone();

    let upserts = |h: &lockstep::sandbox::SandboxHandle| -> u64 {
        h.log.to_json(0)["by_endpoint"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["endpoint"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with("/batch/upsert")
            })
            .map(|e| e["count"].as_u64().unwrap())
            .sum()
    };
    let mut child = cli(&dir, &token, &["sync", "people_to_crm"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while upserts(&handle) < 16 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sync never got going"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync finished before it could be killed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let landed = contacts(&handle).len();
    assert!(
        landed > 0 && landed < 4000,
        "killed mid-way: {landed} contacts"
    );

    let report = cli_json(&dir, &token, &["sync", "people_to_crm", "--json"]);
    let resent = report["run"]["acked"].as_u64().unwrap();
    assert!(
        resent >= 4000 - landed as u64,
        "the rerun sent what was missing: {resent}"
    );
    let crm = contacts(&handle);
    assert_eq!(crm.len(), 4000, "no lost rows, no duplicate contacts");
    for p in &rows {
        assert_matches(&crm[&p.email], p);
    }
    let last = cli_json(&dir, &token, &["sync", "people_to_crm", "--json"]);
    assert_eq!(last["plan"]["counts"]["unchanged"], 4000);
    assert_eq!(last["run"]["api"]["requests"], 0);
    handle.shutdown().await;
}

#[test]
fn impossible_sync_definitions_fail_at_load_time_with_their_line() {
    let base = "[destinations.k]\nkind = \"klaviyo\"\napi_key = \"${HOME}\"\n";
    let cases = [
        (
            "[syncs.s]\nmodel = \"m\"\ndestination = \"k\"\nobject = \"deals\"\nkey = { model = \"email\", destination = \"email\" }\nfields = { a = \"a\" }\n",
            "syncs.s.object",
            "expected one of: profiles, events",
        ),
        (
            "[syncs.s]\nmodel = \"m\"\ndestination = \"k\"\nobject = \"events\"\nkey = { model = \"id\", destination = \"unique_id\" }\nfields = { metric = \"m\" }\n",
            "syncs.s.mode",
            "create_only",
        ),
        (
            "[syncs.s]\nmodel = \"m\"\ndestination = \"k\"\nobject = \"profiles\"\nmode = \"mirror\"\non_delete = \"delete\"\nkey = { model = \"email\", destination = \"email\" }\nfields = { a = \"a\" }\n",
            "syncs.s.on_delete",
            "use on_delete = \"clear\"",
        ),
        (
            "[syncs.Bad-Name]\nmodel = \"m\"\ndestination = \"k\"\nobject = \"profiles\"\nkey = { model = \"email\", destination = \"email\" }\nfields = { a = \"a\" }\n",
            "syncs.Bad-Name",
            "lower-case",
        ),
    ];
    for (sync, key, message) in cases {
        let (_tmp, dir) = crate::support::project(&format!("{base}\n{sync}"));
        let out = crate::support::lockstep(&dir, &["status"]);
        assert!(!out.status.success(), "{sync}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("lockstep.toml:") && err.contains(key) && err.contains(message),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}
