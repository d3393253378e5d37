//! `lockstep sandbox` as a user runs it: the binary starts, prints its connection
//! details (here as JSON), and serves on the printed URL until stopped.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

#[tokio::test]
async fn the_sandbox_verb_prints_credentials_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .args([
            "sandbox",
            "--port",
            "0",
            "--json",
            "--customers",
            "10",
            "--orders",
            "30",
            "--shopify-token",
            "shpat_cli_test",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn lockstep sandbox");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        line
    });
    let line = tokio::time::timeout(Duration::from_secs(60), line)
        .await
        .expect("prints in time")
        .expect("read");
    let info: Result<Value, _> = serde_json::from_str(&line);
    let result = async {
        let info = info.map_err(|e| format!("not JSON: {e}: {line}"))?;
        let base = info["base_url"].as_str().ok_or("no base_url")?.to_string();
        if info["env"]["SHOPIFY_ACCESS_TOKEN"] != "shpat_cli_test" {
            return Err(format!("token flag not applied: {info}"));
        }
        let toml = info["lockstep_toml"].as_str().ok_or("no toml")?;
        if !toml.contains(&format!("base_url = \"{base}\""))
            || !toml.contains("${SHOPIFY_ACCESS_TOKEN}")
        {
            return Err(format!("toml fragment: {toml}"));
        }
        let r = reqwest::Client::new()
            .get(format!(
                "{base}/admin/api/2026-07/orders/count.json?status=any"
            ))
            .header("X-Shopify-Access-Token", "shpat_cli_test")
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if v["count"] != 30 {
            return Err(format!("count: {v}"));
        }
        Ok(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        panic!("{e}");
    }
}
