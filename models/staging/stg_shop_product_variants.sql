-- Variants of each product's latest version.
WITH latest AS (
  SELECT product_id AS latest_product_id, max(product_updated_at) AS latest_version
  FROM raw_shop.product_variants
  GROUP BY product_id
), ranked AS (
  SELECT v.*,
         row_number() OVER (PARTITION BY v.id ORDER BY v.updated_at DESC, v._extracted_at DESC, v._batch_id DESC) AS version_rank
  FROM raw_shop.product_variants v
  JOIN latest ON (v.product_id = latest.latest_product_id) AND (v.product_updated_at = latest.latest_version)
)
SELECT 'shop' AS source, id AS variant_id, product_id, sku, title, price, inventory_item_id, updated_at
FROM ranked
WHERE version_rank = 1
