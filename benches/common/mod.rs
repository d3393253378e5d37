//! Helpers shared by the benches: peak-memory readings and size knobs from the
//! environment. Each bench includes this with `mod common;`, so not every bench
//! uses every helper.
#![allow(dead_code)]

/// The benches run with the binary's allocator (see `src/main.rs`), and each
/// bench's `main` applies its options first ([`lockstep::alloc::tune`]).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peak resident set size of this process in MiB (`VmHWM`, Linux); 0 elsewhere.
pub fn peak_mib() -> f64 {
    status_mib("VmHWM:")
}

/// A `/proc/self/status` line's size in MiB; 0 where there is none.
fn status_mib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(key))?.to_string();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Resident set size of this process now in MiB (`VmRSS`, Linux); 0 elsewhere.
pub fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

/// Reset the peak-RSS high-water mark so the next reading covers only what follows.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU time this process has used so far, (user, system) seconds, from
/// `/proc/self/stat` (clock ticks of 1/100 s, Linux); zeros elsewhere. The
/// difference over a stretch shows how busy the cores were during it.
pub fn cpu_secs() -> (f64, f64) {
    // utime and stime are fields 14 and 15 of the stat line.
    (stat_field(14) / 100.0, stat_field(15) / 100.0)
}

/// Minor page faults this process has taken so far (`/proc/self/stat`, Linux; 0
/// elsewhere): each is a page of memory touched for the first time since the
/// kernel handed it over, zeroed on the way. On a virtual machine they are a large
/// share of a big build's system time, so the benches report them beside it.
pub fn minor_faults() -> f64 {
    stat_field(10)
}

/// Field `n` (1-based, as `man 5 proc` numbers them) of `/proc/self/stat` as a
/// number; 0 where there is none.
fn stat_field(n: usize) -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces; count fields after its `)`,
    // where field 3 comes first.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(n.checked_sub(3)?))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Names the directory the measured process removes when it is done: the
/// parent's temporary one, whose destructor `exec` never runs.
const REMOVE_WHEN_DONE: &str = "LOCKSTEP_BENCH_REMOVE_WHEN_DONE";

/// Run this bench again as a fresh process with `key` set to `dir` (where this
/// process prepared the data), so what is measured there has a heap of its own, not
/// what preparing left in this one (mimalloc keeps freed pages mapped for reuse).
/// On Unix the process is replaced (`exec`): a waiting parent kept its heap (18 GiB
/// after preparing 10M orders) beside the child's, and the kernel killed the child.
/// `temporary`: `dir` is this process's temporary directory, which the new process
/// removes when done (see [`HandedOverDir`]).
pub fn run_child(key: &str, dir: &std::path::Path, temporary: bool) -> anyhow::Result<()> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.env(key, dir);
    if temporary {
        command.env(REMOVE_WHEN_DONE, dir);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Returns only if the exec failed.
        Err(command.exec().into())
    }
    #[cfg(not(unix))]
    {
        let status = command.status()?;
        anyhow::ensure!(status.success(), "the measured process failed: {status}");
        Ok(())
    }
}

/// In the measured process: the directory the preparing process handed over to be
/// removed, removed when this is dropped (also when the measurement fails).
pub struct HandedOverDir(Option<std::path::PathBuf>);

impl HandedOverDir {
    /// Take over the directory named by the preparing process, if any.
    pub fn from_env() -> Self {
        HandedOverDir(std::env::var_os(REMOVE_WHEN_DONE).map(Into::into))
    }
}

impl Drop for HandedOverDir {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A size knob: `name` parsed as an integer, else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// [`env_u64`] as a `usize`.
pub fn env_usize(name: &str, default: usize) -> usize {
    env_u64(name, default as u64) as usize
}

/// Shopify's limits off in the sandbox, for benches that backfill through Bulk
/// Operations as fast as the machine allows.
pub fn shopify_unlimited(cfg: &mut lockstep::sandbox::SandboxConfig) {
    cfg.shopify.bucket.size = 0;
    cfg.shopify.graphql.maximum_available = 1e9;
    cfg.shopify.graphql.restore_rate = 1e9;
    // A job's queueing and finishing steps, not its rendering, which is real work.
    cfg.shopify.bulk_step = std::time::Duration::from_millis(10);
    // Results are downloaded as soon as they are ready; older ones need not stay in
    // this process's memory.
    cfg.shopify.bulk_keep_results = 4;
}

/// The sandbox's Shopify as a source, polling bulk jobs every few milliseconds.
pub fn shopify_source(
    handle: &lockstep::sandbox::SandboxHandle,
) -> anyhow::Result<lockstep::connectors::shopify::ShopifySource> {
    use lockstep::connectors::shopify::Polling;
    use std::time::Duration;
    Ok(
        lockstep::demo::sandbox_shopify_source(handle)?.with_polling(Polling {
            first: Duration::from_millis(5),
            max: Duration::from_millis(50),
            ..Polling::default()
        }),
    )
}

/// A backfill over the generated store's whole history (two years before
/// 2026-06-01) in 30-day windows.
pub fn store_history(bulk: bool) -> anyhow::Result<lockstep::extract::backfill::Options> {
    Ok(lockstep::extract::backfill::Options {
        from: chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")?.to_utc(),
        to: chrono::DateTime::parse_from_rfc3339("2026-07-01T00:00:00Z")?.to_utc(),
        window: chrono::Duration::days(30),
        min_window: chrono::Duration::hours(1),
        bulk,
    })
}
