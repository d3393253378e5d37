//! Local emulators of Shopify, HubSpot and Klaviyo (see issue 3), one port for all,
//! with a deterministic store generator, chaos and inspection endpoints.

pub mod admin;
pub mod chaos;
pub mod generator;
pub mod hubspot;
pub mod klaviyo;
pub mod load;
pub mod log;
pub mod seed;
pub mod server;
pub mod shopify;

pub use server::{Credentials, Sandbox, SandboxConfig, SandboxError, SandboxHandle};
