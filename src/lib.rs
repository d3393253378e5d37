//! lockstep: a warehouse-first reverse-ETL engine.
//!
//! Data flows extract → warehouse → model → diff → sink. The warehouse (Delta Lake
//! tables on object_store) is the one place truth is computed; everything else reads
//! from it or writes to it. `sandbox` holds local emulators of the platforms, written
//! independently of `connectors` so that each checks the other.

pub mod alloc;
pub mod audit;
pub mod buffers;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod diff;
pub mod error;
pub mod extract;
pub mod http;
pub mod model;
pub mod prefetch;
pub mod query;
pub mod sandbox;
pub mod schedule;
pub mod sink;
pub mod slot_index;
pub mod utc_text;
pub mod warehouse;
