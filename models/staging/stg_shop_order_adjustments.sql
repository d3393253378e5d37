-- Refund-level adjustments (shipping refunds, refund discrepancies) of each order's
-- latest version. Shopify reports refunded amounts here as negative numbers.
WITH latest AS (
  SELECT order_id AS latest_order_id, max(order_updated_at) AS latest_version
  FROM raw_shop.order_adjustments
  GROUP BY order_id
), ranked AS (
  SELECT a.*,
         row_number() OVER (PARTITION BY a.id ORDER BY a._extracted_at DESC, a._batch_id DESC) AS version_rank
  FROM raw_shop.order_adjustments a
  JOIN latest ON (a.order_id = latest.latest_order_id) AND (a.order_updated_at = latest.latest_version)
)
SELECT
  'shop'                                        AS source,
  id                                            AS adjustment_id,
  refund_id,
  order_id,
  order_updated_at,
  kind,
  reason,
  amount,
  COALESCE(tax_amount, CAST(0 AS DECIMAL(18,2))) AS tax_amount,
  (kind = 'shipping_refund')                    AS is_shipping_refund
FROM ranked
WHERE version_rank = 1
