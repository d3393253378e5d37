//! The one integration-test binary (each extra binary re-links DataFusion): one module
//! per area, talking real HTTP to the sandbox and writing real Delta/Parquet.

mod support;

mod audit;
mod cli_core;
mod crash;
mod default_models;
mod delta_protocol;
mod demo;
mod extract;
mod extract_bulk;
mod extract_crm;
mod model_engine;
mod model_run;
mod sandbox_cli;
mod sandbox_hubspot;
mod sandbox_klaviyo;
mod sandbox_shopify;
mod sandbox_shopify_bulk;
mod sandbox_shopify_load;
mod sync;
mod sync_cli;
mod warehouse;
