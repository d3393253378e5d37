-- The golden id of every non-test order, keyed by the order's integer id: a guest
-- checkout's from its own node ('o:shop:' || order_id, see identity_edges), any
-- other order's from its store customer's node ('c:shop:' || customer_id). The
-- marts join orders to their golden customer here: an integer key hashes and
-- compares far cheaper than building and matching a node string per order, and
-- computed once for both marts (a view read by two table models is held for the
-- run) the node column is decoded and parsed only once.
SELECT CAST(substr(node, 8) AS BIGINT) AS order_id,
       golden_id
FROM models.identity_graph
WHERE starts_with(node, 'o:shop:')
UNION ALL
SELECT o.order_id, c.golden_id
FROM models.stg_shop_orders o
JOIN (SELECT CAST(substr(node, 8) AS BIGINT) AS customer_id, golden_id
      FROM models.identity_graph
      WHERE starts_with(node, 'c:shop:')) c ON c.customer_id = o.customer_id
WHERE NOT o.is_test
