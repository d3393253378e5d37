//! Shopify backfills through GraphQL Bulk Operations: one `bulkOperationRunQuery` per
//! time window (`updated_at` in `[from, to)`), polled with backoff until COMPLETED,
//! its JSONL streamed chunk by chunk into a parsing thread that fills the landed
//! columns directly ([`super::bulk_map`]). A job that ends FAILED, CANCELED or
//! EXPIRED, or runs past the poll timeout (it is then cancelled), is reported as
//! [`ExtractError::BulkFailed`], and the backfill driver retries the window in
//! halves.
//!
//! Bulk rows land in the same `raw_<source>.<entity>` tables with the same typed
//! columns as REST rows. Known differences, all from what GraphQL exposes:
//! - `_raw` holds the GraphQL JSON of the record (camelCase fields, `gid://` ids,
//!   `__parentId` on child lines), not the REST JSON.
//! - JSON-typed columns carry the GraphQL shapes: `orders.discount_codes` is a list
//!   of codes (REST: objects with code/amount/type), `tax_lines` are
//!   `{title, rate, priceSet}` objects; `orders.shipping_lines` is null, because
//!   shipping lines are a connection and the five connections a bulk query may hold
//!   are orders, line items, refund line items, transactions and adjustments.
//! - `order_adjustments.reason` (REST free text such as "Shipping refund") is null;
//!   its `kind` comes from GraphQL's `reason` enum.
//! - `refunds.processed_at` is the refund's `createdAt` (GraphQL has no processedAt;
//!   REST differs only for back-dated imported refunds); `refunds.restock` is
//!   whether any of its lines was restocked (REST's deprecated flag).
//! - `customers.currency` is the currency of `amountSpent`.
//!
//! Products, variants and inventory levels are backfilled by REST paging.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use tokio::sync::mpsc;

use super::bulk_columns::RawSizes;
use super::bulk_map::{Mapper, Root};
use super::client::Client;
use crate::extract::{BulkExport, Export, ExtractError, Landed, Result};

const RUN: &str = "mutation run($q: String!) { bulkOperationRunQuery(query: $q, groupObjects: false) { bulkOperation { id status } userErrors { field message } } }";
const POLL: &str = "query poll($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode objectCount url } } }";
const CANCEL: &str = "mutation cancel($id: ID!) { bulkOperationCancel(id: $id) { bulkOperation { id status } userErrors { field message } } }";

const CUSTOMER_FIELDS: &str = "__typename id email phone firstName lastName state verifiedEmail tags numberOfOrders amountSpent { amount currencyCode } emailMarketingConsent { marketingState } defaultAddress { countryCodeV2 } createdAt updatedAt";

const MONEY: &str =
    "{ shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }";

/// The orders query's node selection (`%M` is a money bag selection).
const ORDER_FIELDS: &str = "__typename id name number email phone customer { id } createdAt processedAt updatedAt cancelledAt cancelReason closedAt displayFinancialStatus displayFulfillmentStatus test sourceName tags currencyCode presentmentCurrencyCode subtotalPriceSet %M totalDiscountsSet %M totalTaxSet %M totalShippingPriceSet %M totalPriceSet %M currentTotalPriceSet %M taxesIncluded discountCodes taxLines { title rate priceSet %M } \
lineItems { edges { node { __typename id product { id } variant { id } sku title quantity originalUnitPriceSet %M totalDiscountSet %M taxable taxLines { title rate priceSet %M } } } } \
refunds { id createdAt note totalRefundedSet %M \
refundLineItems { edges { node { __typename id lineItem { id } quantity restockType restocked subtotalSet %M totalTaxSet %M } } } \
transactions { edges { node { __typename id kind status gateway amountSet %M processedAt test } } } \
orderAdjustments { edges { node { __typename id reason amountSet %M taxAmountSet %M } } } }";

/// How bulk jobs are waited on.
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    /// First wait between polls; grows by half each poll.
    pub first: Duration,
    /// Longest wait between polls.
    pub max: Duration,
    /// A job still running after this is cancelled and its window halved.
    pub timeout: Duration,
    /// Attempts at downloading a result (a broken stream restarts the window's
    /// parse from the first line).
    pub downloads: u32,
    /// Longest time for one download, body included: a result file is far larger
    /// than an API reply, so the API's per-request timeout does not apply.
    pub download_timeout: Duration,
}

impl Default for Polling {
    fn default() -> Self {
        Polling {
            first: Duration::from_millis(50),
            max: Duration::from_secs(5),
            timeout: Duration::from_secs(4 * 3600),
            downloads: 5,
            download_timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// One Shopify stream's bulk export.
pub struct BulkStream {
    client: Client,
    source: String,
    root: Root,
    polling: Polling,
    /// The last parsed window's `_raw` sizes (the next window's builders start at
    /// about that size).
    sizes: Arc<Mutex<RawSizes>>,
}

impl BulkStream {
    /// The bulk export of `root` for source `source`.
    pub fn new(client: Client, source: &str, root: Root, polling: Polling) -> BulkStream {
        BulkStream {
            client,
            source: source.to_string(),
            root,
            polling,
            sizes: Arc::default(),
        }
    }

    /// The bulk query for `[from, to)`.
    pub fn query(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
        let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, false);
        let (root, fields) = match self.root {
            Root::Customers => ("customers", CUSTOMER_FIELDS.to_string()),
            Root::Orders => ("orders", ORDER_FIELDS.replace("%M", MONEY)),
        };
        format!(
            "{{ {root}(query: \"updated_at:>='{}' AND updated_at:<'{}'\") {{ edges {{ node {{ {fields} }} }} }} }}",
            ts(from),
            ts(to)
        )
    }

    fn failed(&self, status: &str, detail: impl Into<String>) -> ExtractError {
        ExtractError::BulkFailed {
            who: self.client.api().who().to_string(),
            status: status.to_string(),
            detail: detail.into(),
        }
    }

    /// Start the job; waits while the shop's bulk slots are taken.
    async fn start(&self, query: &str) -> Result<String> {
        let started = Instant::now();
        let mut wait = self.polling.first;
        loop {
            let data = self.client.graphql(RUN, json!({ "q": query })).await?;
            let payload = &data["bulkOperationRunQuery"];
            if let Some(id) = payload["bulkOperation"]["id"].as_str() {
                return Ok(id.to_string());
            }
            let message = payload["userErrors"][0]["message"]
                .as_str()
                .unwrap_or("no operation and no error")
                .to_string();
            // Another job of this app (an earlier, killed run's, say) holds the slot.
            if message.contains("already in progress") && started.elapsed() < self.polling.timeout {
                tokio::time::sleep(wait).await;
                wait = (wait * 3 / 2).min(self.polling.max);
                continue;
            }
            return Err(self
                .client
                .protocol(format!("bulkOperationRunQuery refused: {message}")));
        }
    }

    /// Poll until the job ends; the result URL (`None`: nothing matched).
    async fn wait(&self, id: &str) -> Result<Option<String>> {
        let started = Instant::now();
        let mut wait = self.polling.first;
        loop {
            tokio::time::sleep(wait).await;
            wait = (wait * 3 / 2).min(self.polling.max);
            let data = self.client.graphql(POLL, json!({ "id": id })).await?;
            let node = &data["node"];
            let status = node["status"].as_str().unwrap_or_default();
            match status {
                "COMPLETED" => return Ok(node["url"].as_str().map(str::to_string)),
                "CREATED" | "RUNNING" | "CANCELING" => {}
                "" => {
                    return Err(self
                        .client
                        .protocol(format!("bulk operation {id} has no status: {node}")));
                }
                other => {
                    let code = node["errorCode"].as_str().unwrap_or("no error code");
                    return Err(self.failed(other, format!("{id}: {code}")));
                }
            }
            if started.elapsed() > self.polling.timeout {
                self.cancel(id).await;
                return Err(self.failed(
                    "TIMEOUT",
                    format!(
                        "{id} still {status} after {} s; cancelled",
                        self.polling.timeout.as_secs()
                    ),
                ));
            }
        }
    }

    /// Best effort: the window is retried either way.
    async fn cancel(&self, id: &str) {
        if let Err(e) = self.client.graphql(CANCEL, json!({ "id": id })).await {
            tracing::warn!(%id, error = %e, "Could not cancel a timed-out bulk operation.");
        }
    }

    /// Download and map the result, retrying a broken download from the start.
    async fn download(&self, url: &str, skip: Arc<Landed>) -> Result<Export> {
        let mut last = String::new();
        for attempt in 0..self.polling.downloads.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.polling.first * 2u32.pow(attempt.min(6))).await;
            }
            match self.stream_once(url, skip.clone()).await {
                Ok(export) => return Ok(export),
                Err(Broken::Stream(e)) => last = e,
                Err(Broken::Fatal(e)) => return Err(e),
            }
        }
        Err(self.client.protocol(format!(
            "bulk result download failed {} times: {last}",
            self.polling.downloads.max(1)
        )))
    }

    /// One download: chunks go to a parsing thread while the next ones arrive.
    async fn stream_once(&self, url: &str, skip: Arc<Landed>) -> Result<Export, Broken> {
        // Pre-signed URL: no access token.
        let mut response = self
            .client
            .api()
            .open(|c| c.get(url).timeout(self.polling.download_timeout))
            .await
            .map_err(|e| Broken::Fatal(e.into()))?;
        let (tx, rx) = mpsc::channel::<bytes::Bytes>(16);
        let last = *self.sizes.lock().unwrap_or_else(|p| p.into_inner());
        let mapper = Mapper::new(self.root, &self.source, skip).with_sizes(last);
        let sizes = self.sizes.clone();
        let parser = tokio::task::spawn_blocking(move || parse(mapper, rx, &sizes));
        let mut broken = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if tx.send(chunk).await.is_err() {
                        break; // the parser stopped; its error says why
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    broken = Some(crate::http::describe(&e));
                    break;
                }
            }
        }
        drop(tx);
        let parsed = parser
            .await
            .map_err(|e| Broken::Fatal(self.client.protocol(format!("parser stopped: {e}"))))?;
        match (parsed, broken) {
            (Err(e), _) => Err(Broken::Fatal(e)),
            (Ok(_), Some(e)) => Err(Broken::Stream(e)),
            (Ok(export), None) => Ok(export),
        }
    }
}

/// Why one download attempt ended early.
enum Broken {
    /// The connection broke: try again.
    Stream(String),
    /// The data is wrong or the request was refused: stop.
    Fatal(ExtractError),
}

/// Split chunks into lines (a line may span chunks) and map each; the window's
/// `_raw` sizes are left in `sizes`.
fn parse(
    mut mapper: Mapper,
    mut rx: mpsc::Receiver<bytes::Bytes>,
    sizes: &Mutex<RawSizes>,
) -> Result<Export> {
    let mut carry: Vec<u8> = Vec::new();
    while let Some(chunk) = rx.blocking_recv() {
        let mut rest: &[u8] = &chunk;
        if !carry.is_empty() {
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    carry.extend_from_slice(&rest[..i]);
                    mapper.line(&carry)?;
                    carry.clear();
                    rest = &rest[i + 1..];
                }
                None => {
                    carry.extend_from_slice(rest);
                    continue;
                }
            }
        }
        while let Some(i) = memchr::memchr(b'\n', rest) {
            mapper.line(&rest[..i])?;
            rest = &rest[i + 1..];
        }
        carry.extend_from_slice(rest);
    }
    if !carry.is_empty() {
        mapper.line(&carry)?;
    }
    *sizes.lock().unwrap_or_else(|p| p.into_inner()) = mapper.sizes();
    mapper.finish()
}

#[async_trait]
impl BulkExport for BulkStream {
    async fn export(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        skip: Arc<Landed>,
    ) -> Result<Export> {
        let id = self.start(&self.query(from, to)).await?;
        match self.wait(&id).await? {
            Some(url) => self.download(&url, skip).await,
            // Shopify gives no URL when nothing matched.
            None => Mapper::new(self.root, &self.source, skip).finish(),
        }
    }
}
