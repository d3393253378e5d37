-- The golden id of every non-test order, keyed by the order's integer id: a guest
-- checkout's is its own (store_golden_ids.guest_order_id), any other order's is its
-- store customer's (store_golden_ids.customer_id). An integer key hashes and
-- compares far cheaper than building and matching a node string per order.
SELECT guest_order_id AS order_id,
       golden_id
FROM models.store_golden_ids
WHERE guest_order_id IS NOT NULL
UNION ALL
SELECT o.order_id, k.golden_id
FROM models.stg_shop_orders o
JOIN models.store_golden_ids k ON k.customer_id = o.customer_id
WHERE NOT o.is_test
