-- What a Klaviyo events sync pushes: one "Placed Order" event per counted order and
-- one "Refunded Order" event per refund with money back, each keyed by a
-- deterministic event_id (sent as Klaviyo's unique_id, so a retry or a replay is
-- recorded once). Times are the order's processed time and the refund's time (UTC,
-- ISO 8601 to the second, `2026-01-31T12:00:00Z`: utc_iso8601, the text a cast of
-- the timestamp cut to the second gives, in less than half the time); value is in
-- shop currency.
WITH refunded AS (
  SELECT refund_id, order_id, sum(amount) AS amount, min(currency) AS currency
  FROM models.stg_shop_refund_transactions
  WHERE is_successful_refund
  GROUP BY refund_id, order_id
)
SELECT 'placed-order-' || CAST(o.order_id AS VARCHAR)              AS event_id,
       'Placed Order'                                              AS metric,
       lower(trim(o.email))                                        AS email,
       utc_iso8601(COALESCE(o.processed_at, o.created_at))        AS event_time,
       o.total_price                                               AS value,
       o.shop_currency                                             AS value_currency,
       o.order_name                                                AS order_name
FROM models.stg_shop_orders o
WHERE o.counts_in_sales AND (o.email IS NOT NULL)
UNION ALL
SELECT 'refunded-order-' || CAST(r.refund_id AS VARCHAR),
       'Refunded Order',
       lower(trim(o.email)),
       utc_iso8601(f.refunded_at),
       r.amount,
       r.currency,
       o.order_name
FROM refunded r
JOIN models.stg_shop_refunds f ON f.refund_id = r.refund_id
JOIN models.stg_shop_orders o ON o.order_id = r.order_id
WHERE o.counts_in_sales AND (o.email IS NOT NULL)
