//! Fault injection for crash tests. `LOCKSTEP_FAILPOINT=<name>[:pause|:abort][@N]`
//! makes the process stop the N-th time (default first) it reaches the named point:
//! `pause` prints a marker on stderr and sleeps (so a test can SIGKILL it there),
//! `abort` kills the process at once. Unset, each check is one atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Stop before a Delta commit file is written, after the data files are.
pub const BEFORE_COMMIT: &str = "warehouse.before_commit";

struct Failpoint {
    name: String,
    action: String,
    nth: u64,
}

fn configured() -> Option<&'static Failpoint> {
    static CONFIG: OnceLock<Option<Failpoint>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let raw = std::env::var("LOCKSTEP_FAILPOINT").ok()?;
            let (spec, nth) = match raw.split_once('@') {
                Some((spec, n)) => (spec, n.parse().unwrap_or(1)),
                None => (raw.as_str(), 1),
            };
            let (name, action) = spec.split_once(':').unwrap_or((spec, "pause"));
            Some(Failpoint {
                name: name.to_string(),
                action: action.to_string(),
                nth,
            })
        })
        .as_ref()
}

/// Whether any failpoint is configured for this process.
pub fn enabled() -> bool {
    configured().is_some()
}

/// Trigger the failpoint `name` if it is the configured one.
pub async fn hit(name: &str) {
    static HITS: AtomicU64 = AtomicU64::new(0);
    let Some(fp) = configured() else {
        return;
    };
    if fp.name != name || HITS.fetch_add(1, Ordering::SeqCst) + 1 != fp.nth {
        return;
    }
    eprintln!("failpoint {name} reached");
    if fp.action == "abort" {
        std::process::abort();
    }
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}
