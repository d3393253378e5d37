-- The golden id of every store customer and every guest-checkout order, keyed by
-- integers (customer_id, or guest_order_id for an order without a customer; the
-- other is NULL): the store's nodes of identity_graph. The marts sum orders per
-- store customer (per order for a guest checkout) first and attach golden ids to
-- those sums: at 10M orders that joins ~1.8M keys instead of every order. They
-- group and join on store_key, both ids as one integer (a guest order's negated;
-- store ids are positive): one non-null integer key is hashed and compared faster
-- than two nullable ones (~2 s of CPU at 10M orders).
WITH store AS (
  -- Each node's id parsed once; the prefix says which kind of id it is.
  SELECT CAST(substr(node, 8) AS BIGINT) AS id,
         starts_with(node, 'c:shop:')    AS is_customer,
         golden_id
  FROM models.identity_graph
  WHERE starts_with(node, 'c:shop:') OR starts_with(node, 'o:shop:')
)
SELECT CASE WHEN is_customer THEN id END      AS customer_id,
       CASE WHEN NOT is_customer THEN id END  AS guest_order_id,
       CASE WHEN is_customer THEN id ELSE -id END AS store_key,
       golden_id
FROM store
