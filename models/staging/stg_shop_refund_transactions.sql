-- Money movements of refunds, of each order's latest version.
WITH latest AS (
  SELECT order_id AS latest_order_id, max(order_updated_at) AS latest_version
  FROM raw_shop.refund_transactions
  GROUP BY order_id
), ranked AS (
  SELECT t.*,
         row_number() OVER (PARTITION BY t.id ORDER BY t._extracted_at DESC, t._batch_id DESC) AS version_rank
  FROM raw_shop.refund_transactions t
  JOIN latest ON (t.order_id = latest.latest_order_id) AND (t.order_updated_at = latest.latest_version)
)
SELECT
  'shop'                                        AS source,
  id                                            AS transaction_id,
  refund_id,
  order_id,
  order_updated_at,
  kind,
  status,
  gateway,
  amount,
  currency,
  COALESCE(test, false)                         AS is_test,
  ((kind = 'refund') AND (status = 'success'))  AS is_successful_refund,
  processed_at
FROM ranked
WHERE version_rank = 1
