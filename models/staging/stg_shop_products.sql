WITH ranked AS (
  SELECT p.*,
         row_number() OVER (PARTITION BY p.id ORDER BY p.updated_at DESC, p._extracted_at DESC, p._batch_id DESC) AS version_rank
  FROM raw_shop.products p
)
SELECT 'shop' AS source, id AS product_id, title, vendor, product_type, status, tags, created_at, updated_at
FROM ranked
WHERE version_rank = 1
