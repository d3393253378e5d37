//! The one integration-test binary (each extra binary re-links DataFusion): one module
//! per area, talking real HTTP to the sandbox and writing real Delta/Parquet.

mod sandbox_hubspot;
mod sandbox_klaviyo;
mod sandbox_shopify;
