-- The golden id of every order in identity_graph, keyed by the order's integer id.
-- Order nodes are 'o:shop:' || order_id (see identity_edges), so the id is the
-- text after that prefix. The marts join orders to their golden customer here: an
-- integer key hashes and compares far cheaper than building and matching a node
-- string per order, and computed once for both marts (a view read by two table
-- models is held for the run) the node column is decoded and parsed only once.
SELECT CAST(substr(node, 8) AS BIGINT) AS order_id,
       golden_id
FROM models.identity_graph
WHERE starts_with(node, 'o:shop:')
