-- Refunded line items (refunds unrolled to line level), of each order's latest version.
WITH latest AS (
  SELECT order_id AS latest_order_id, max(order_updated_at) AS latest_version
  FROM raw_shop.refund_line_items
  GROUP BY order_id
), ranked AS (
  SELECT r.*,
         row_number() OVER (PARTITION BY r.id ORDER BY r._extracted_at DESC, r._batch_id DESC) AS version_rank
  FROM raw_shop.refund_line_items r
  JOIN latest ON (r.order_id = latest.latest_order_id) AND (r.order_updated_at = latest.latest_version)
)
SELECT
  'shop'                                        AS source,
  id                                            AS refund_line_id,
  refund_id,
  order_id,
  order_updated_at,
  line_item_id,
  quantity,
  restock_type,
  subtotal,
  COALESCE(total_tax, CAST(0 AS DECIMAL(18,2))) AS total_tax,
  presentment_subtotal
FROM ranked
WHERE version_rank = 1
