-- Line items of each order's latest version.
WITH latest AS (
  SELECT order_id AS latest_order_id, max(order_updated_at) AS latest_version
  FROM raw_shop.order_line_items
  GROUP BY order_id
), ranked AS (
  SELECT li.*,
         row_number() OVER (PARTITION BY li.id ORDER BY li._extracted_at DESC, li._batch_id DESC) AS version_rank
  FROM raw_shop.order_line_items li
  JOIN latest ON (li.order_id = latest.latest_order_id) AND (li.order_updated_at = latest.latest_version)
)
SELECT
  'shop'                                        AS source,
  id                                            AS line_item_id,
  order_id,
  order_updated_at,
  product_id,
  variant_id,
  sku,
  title,
  quantity,
  price,
  presentment_price,
  CAST(price * quantity AS DECIMAL(18,2))              AS gross_sales,
  CAST(presentment_price * quantity AS DECIMAL(18,2))  AS presentment_gross_sales,
  total_discount,
  taxable,
  tax_lines
FROM ranked
WHERE version_rank = 1
