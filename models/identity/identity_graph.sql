-- Every identifier with its golden id: the connected component of identity_edges,
-- named by its smallest member and hashed (no PII in ids that leave the warehouse).
SELECT node,
       split_part(node, ':', 1)                     AS node_kind,
       component_id,
       'g_' || substr(md5(component_id), 1, 16)     AS golden_id
FROM connected_components('models.identity_edges')
