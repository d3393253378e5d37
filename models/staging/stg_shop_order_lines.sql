-- Line items of each order's latest version: the version stg_shop_orders keeps
-- (line items are landed with the updated_at of the order version they came with).
-- Reading it there, rather than taking each order's greatest order_updated_at over
-- all its line items, saves a grouping of every line item by order (10M groups
-- at 10M orders), and an order whose latest version has no line items left has none.
WITH latest AS (
  SELECT order_id AS latest_order_id, updated_at AS latest_version
  FROM models.stg_shop_orders
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
