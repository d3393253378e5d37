-- Latest level per inventory item and location.
WITH ranked AS (
  SELECT i.*,
         row_number() OVER (PARTITION BY i.inventory_item_id, i.location_id ORDER BY i.updated_at DESC, i._extracted_at DESC, i._batch_id DESC) AS version_rank
  FROM raw_shop.inventory_levels i
)
SELECT 'shop' AS source, inventory_item_id, location_id, available, updated_at
FROM ranked
WHERE version_rank = 1
