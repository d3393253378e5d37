-- Refunds of each order's latest version; booked on refunded_date.
WITH latest AS (
  SELECT order_id AS latest_order_id, max(order_updated_at) AS latest_version
  FROM raw_shop.refunds
  GROUP BY order_id
), ranked AS (
  SELECT r.*,
         row_number() OVER (PARTITION BY r.id ORDER BY r._extracted_at DESC, r._batch_id DESC) AS version_rank
  FROM raw_shop.refunds r
  JOIN latest ON (r.order_id = latest.latest_order_id) AND (r.order_updated_at = latest.latest_version)
)
SELECT
  'shop'                                        AS source,
  id                                            AS refund_id,
  order_id,
  order_updated_at,
  created_at,
  processed_at,
  COALESCE(processed_at, created_at)            AS refunded_at,
  -- The UTC date, the zone dropped first as in stg_shop_orders.processed_date.
  CAST(arrow_cast(COALESCE(processed_at, created_at), 'Timestamp(Microsecond, None)') AS DATE) AS refunded_date,
  note,
  restock
FROM ranked
WHERE version_rank = 1
