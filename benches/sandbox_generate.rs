//! Benchmark: generate a 100k-customer / 1M-order store in memory (the sandbox's
//! largest advertised size) and report wall time and peak resident memory.
//! Sizes can be changed with LOCKSTEP_BENCH_CUSTOMERS / LOCKSTEP_BENCH_ORDERS.
//! Target: under 30 s on the project's 2-core machine (release build).

use std::time::Instant;

use lockstep::sandbox::generator::{GeneratorConfig, generate};
use lockstep::sandbox::shopify::render;

mod common;
use common::{env_usize, peak_mib};

fn main() {
    lockstep::alloc::tune();
    let customers = env_usize("LOCKSTEP_BENCH_CUSTOMERS", 100_000);
    let orders = env_usize("LOCKSTEP_BENCH_ORDERS", 1_000_000);
    let cfg = GeneratorConfig {
        seed: 42,
        customers,
        orders,
        ..GeneratorConfig::default()
    };
    let before = peak_mib();
    let t = Instant::now();
    let g = generate(&cfg);
    let secs = t.elapsed().as_secs_f64();
    let peak = peak_mib();
    let refunds: usize = g.store.orders.iter().map(|o| o.refunds.len()).sum();
    let lines: usize = g.store.orders.iter().map(|o| o.line_items.len()).sum();
    // Rendering cost of one REST page of 250 orders, as a client would fetch it.
    let t = Instant::now();
    let page: Vec<_> = g
        .store
        .orders
        .iter()
        .take(250)
        .map(|o| render::order_json(&g.store, o))
        .collect();
    let page_bytes = serde_json::to_vec(&page).map(|b| b.len()).unwrap_or(0);
    let page_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "sandbox_generate: {customers} customers, {orders} orders ({lines} line items, {refunds} refunds)"
    );
    println!(
        "  generate: {secs:.2} s (target < 30 s) {}",
        if secs < 30.0 { "OK" } else { "OVER TARGET" }
    );
    println!("  peak RSS (VmHWM): {peak:.0} MiB (before generation: {before:.0} MiB)");
    println!(
        "  CRM seeds: {} HubSpot contacts, {} Klaviyo profiles",
        g.contacts.len(),
        g.profiles.len()
    );
    println!("  render one 250-order REST page: {page_ms:.1} ms, {page_bytes} bytes");
}
