-- Line items of each order's latest version: the version stg_shop_orders keeps
-- (line items are landed with the updated_at of the order version they came with).
-- Reading it there, rather than taking each order's greatest order_updated_at over
-- all its line items, saves a grouping of every line item by order (10M groups
-- at 10M orders), and an order whose latest version has no line items left has none.
SELECT v.*
FROM models.stg_shop_order_line_versions v
JOIN (SELECT order_id AS latest_order_id, updated_at AS latest_version
      FROM models.stg_shop_orders) latest
  ON (v.order_id = latest.latest_order_id) AND (v.order_updated_at = latest.latest_version)
