//! Audit: read what the CRM holds (landed by the extractors) and measure it against
//! the warehouse's truth. Results are rows of `audit.*` tables, so drift has a
//! history anyone can query.

pub mod fidelity;

pub use fidelity::{Fidelity, measure};
