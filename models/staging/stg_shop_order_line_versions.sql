-- Line items of every landed order version, one row per line item id and order
-- version (the last extraction of it). stg_shop_order_lines keeps the latest
-- version's; a model that only sums lines per order (orders_fx) groups these by
-- (order_id, order_updated_at) and joins the order's latest version on both, which
-- costs one grouping instead of matching every line item to its order first.
-- order_id is among the dedupe's keys (a line item belongs to one order, so the
-- rows kept are the same): the rows are then spread over the cores by order_id
-- once, and the sums per order version and the join to orders reuse that spread.
-- It comes last: leading keys (order_id, order_updated_at) would let the sum rely
-- on the dedupe's sort order, and the dedupe then has to sort.
WITH ranked AS (
  SELECT li.*,
         row_number() OVER (PARTITION BY li.id, li.order_updated_at, li.order_id ORDER BY li._extracted_at DESC, li._batch_id DESC) AS version_rank
  FROM raw_shop.order_line_items li
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
