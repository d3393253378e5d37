//! Fault injection for crash tests. `LOCKSTEP_FAILPOINT=<name>[:pause|:abort]` makes
//! the process stop at the named point: `pause` prints a marker on stderr and sleeps
//! (so a test can SIGKILL it there), `abort` kills the process at once. Unset, each
//! check is one atomic load.

use std::sync::OnceLock;

/// Stop before a Delta commit file is written, after the data files are.
pub const BEFORE_COMMIT: &str = "warehouse.before_commit";

fn configured() -> Option<&'static (String, String)> {
    static CONFIG: OnceLock<Option<(String, String)>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let raw = std::env::var("LOCKSTEP_FAILPOINT").ok()?;
            let (name, action) = raw.split_once(':').unwrap_or((raw.as_str(), "pause"));
            Some((name.to_string(), action.to_string()))
        })
        .as_ref()
}

/// Whether any failpoint is configured for this process.
pub fn enabled() -> bool {
    configured().is_some()
}

/// Trigger the failpoint `name` if it is the configured one.
pub async fn hit(name: &str) {
    let Some((configured, action)) = configured() else {
        return;
    };
    if configured != name {
        return;
    }
    eprintln!("failpoint {name} reached");
    if action == "abort" {
        std::process::abort();
    }
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}
