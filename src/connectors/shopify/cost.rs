//! Pacing for Shopify's GraphQL cost limit. Every GraphQL answer reports the shop's
//! cost bucket in `extensions.cost.throttleStatus` (points available, maximum,
//! restore rate per second) and what the query asked for (`requestedQueryCost`).
//! Waiting for THROTTLED answers alone would hit the limit again each time the
//! bucket drains; instead each call waits until the bucket, as last reported and
//! refilled since, covers what the same query cost last time. Those points stay
//! reserved until the call's answer arrives: an answer reports the bucket as the
//! server saw it, without the calls still on their way, so concurrent calls (exports
//! in flight) are counted against it until their own answers come back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

/// The bucket as last reported.
#[derive(Debug, Clone, Copy)]
struct Known {
    available: f64,
    maximum: f64,
    restore_rate: f64,
    at: Instant,
}

impl Known {
    fn now(&self, now: Instant) -> f64 {
        let refilled = now.saturating_duration_since(self.at).as_secs_f64() * self.restore_rate;
        (self.available + refilled).min(self.maximum)
    }
}

/// The cost bucket of one shop, as this client knows it.
#[derive(Debug, Default)]
pub(super) struct CostBudget {
    known: Mutex<Option<Known>>,
    /// Points taken by calls whose answers have not arrived.
    pending: Mutex<f64>,
    /// `requestedQueryCost` last reported per query text.
    costs: Mutex<HashMap<String, f64>>,
}

impl CostBudget {
    fn known(&self) -> std::sync::MutexGuard<'_, Option<Known>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cost_of(&self, query: &str) -> Option<f64> {
        self.costs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(query)
            .copied()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, f64> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until the bucket covers `query`'s last known cost, then reserve it until
    /// the reservation is dropped (the answer arrived, or the call failed). Before
    /// the first answer (bucket unknown) or for a query not seen yet, go at once.
    pub(super) async fn acquire(&self, query: &str) -> Reservation<'_> {
        let Some(cost) = self.cost_of(query) else {
            return Reservation {
                budget: self,
                points: 0.0,
            };
        };
        loop {
            let wait = {
                let known = self.known();
                let Some(k) = known.as_ref() else {
                    return Reservation {
                        budget: self,
                        points: 0.0,
                    };
                };
                let mut pending = self.pending();
                let available = k.now(Instant::now()) - *pending;
                // A query dearer than the whole bucket can only go when it is full.
                let need = cost.min(k.maximum);
                if available >= need {
                    *pending += cost;
                    return Reservation {
                        budget: self,
                        points: cost,
                    };
                }
                Duration::from_secs_f64((need - available) / k.restore_rate.max(0.001))
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Record what an answer (successful or THROTTLED) says of the bucket.
    pub(super) fn observe(&self, query: &str, answer: &Value) {
        let Some(cost) = answer.pointer("/extensions/cost") else {
            return;
        };
        if let Some(requested) = cost.get("requestedQueryCost").and_then(Value::as_f64) {
            let mut costs = self.costs.lock().unwrap_or_else(|p| p.into_inner());
            // The query text is copied once, not on every answer.
            match costs.get_mut(query) {
                Some(c) => *c = requested,
                None => {
                    costs.insert(query.to_string(), requested);
                }
            }
        }
        let status = &cost["throttleStatus"];
        let (Some(available), Some(maximum), Some(restore_rate)) = (
            status["currentlyAvailable"].as_f64(),
            status["maximumAvailable"].as_f64(),
            status["restoreRate"].as_f64(),
        ) else {
            return;
        };
        *self.known() = Some(Known {
            available,
            maximum,
            restore_rate,
            at: Instant::now(),
        });
    }
}

/// Points held for one call until its answer arrives.
#[must_use = "the points are released when the reservation is dropped"]
pub(super) struct Reservation<'a> {
    budget: &'a CostBudget,
    points: f64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.points > 0.0 {
            let mut pending = self.budget.pending();
            *pending = (*pending - self.points).max(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(requested: f64, available: f64) -> Value {
        serde_json::json!({"data": {}, "extensions": {"cost": {
            "requestedQueryCost": requested, "actualQueryCost": requested,
            "throttleStatus": {"maximumAvailable": 100.0, "currentlyAvailable": available, "restoreRate": 10.0}
        }}})
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_the_points_the_query_cost_last_time() {
        let b = CostBudget::default();
        let start = Instant::now();
        // Unknown bucket and query: no wait.
        drop(b.acquire("q").await);
        assert_eq!(start.elapsed(), Duration::ZERO);
        b.observe("q", &answer(25.0, 30.0));
        // 30 points cover one call of 25; while its answer is out, the next needs
        // 20 more at 10/s.
        let first = b.acquire("q").await;
        assert!(start.elapsed() < Duration::from_millis(5));
        let second = b.acquire("q").await;
        let waited = start.elapsed().as_secs_f64();
        assert!((1.95..2.1).contains(&waited), "{waited}");
        // A query not seen yet goes at once.
        drop(b.acquire("other").await);
        assert!(start.elapsed().as_secs_f64() < 2.1);
        // Answers release what their calls held.
        drop((first, second));
        assert_eq!(*b.pending(), 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_query_dearer_than_the_bucket_waits_for_a_full_bucket_only() {
        let b = CostBudget::default();
        b.observe("big", &answer(500.0, 0.0));
        let start = Instant::now();
        drop(b.acquire("big").await);
        let waited = start.elapsed().as_secs_f64();
        assert!((9.9..10.1).contains(&waited), "{waited}");
    }
}
