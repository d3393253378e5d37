-- One row per golden customer (a person across the store, guest checkouts and CRMs)
-- with per-field survivorship: among the person's records with a non-null value,
-- the source ranked first in [project] source_priority, then the most recent, then
-- (a tie: same priority and time) the smallest source name and record id, so every
-- run picks the same record. min_by(value, rank) is the value of the record with the
-- smallest rank (lockstep's function: first_value(value ORDER BY rank), comparing
-- one integer per row; the generic first_value was seconds at 1M orders).
WITH records AS (
  SELECT 'c:shop:' || CAST(customer_id AS VARCHAR) AS node, source, updated_at,
         email, email_canonical, phone_e164, first_name, last_name, primary_tag, customer_id AS store_customer_id
  FROM models.stg_shop_customers
  UNION ALL
  SELECT 'o:shop:' || CAST(order_id AS VARCHAR), source, updated_at,
         email, email_canonical, phone_e164, CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS BIGINT)
  FROM models.stg_shop_orders WHERE (NOT is_test) AND (customer_id IS NULL)
  UNION ALL
  SELECT 'h:hubspot:' || CAST(contact_id AS VARCHAR), source, updated_at,
         email, email_canonical, phone_e164, first_name, last_name, primary_tag, CAST(NULL AS BIGINT)
  FROM models.stg_hubspot_contacts WHERE NOT is_archived
  UNION ALL
  SELECT 'k:klaviyo:' || profile_id, source, updated_at,
         email, email_canonical, phone_e164, first_name, last_name, CAST(NULL AS VARCHAR), CAST(NULL AS BIGINT)
  FROM models.stg_klaviyo_profiles
), ranked AS (
  -- Each record's place in the survivorship order among its person's records, as
  -- one number: node is unique, so the order is total, and ranking once lets every
  -- min_by below compare a single integer per row instead of four keys. The ranks
  -- are only ever compared within a golden_id, so they are numbered per golden_id:
  -- the same picks as one ranking of all records, without sorting them all in one
  -- partition (the persons are ranked in parallel).
  SELECT g.golden_id, g.component_id, r.*,
         row_number() OVER (PARTITION BY g.golden_id
                            ORDER BY source_priority(r.source), r.updated_at DESC, r.source, r.node) AS survivor_rank
  FROM records r
  JOIN models.identity_graph g ON g.node = r.node
)
SELECT golden_id,
       min(component_id)                                                                   AS component_id,
       -- Normalized once per person, after the pick, rather than on every record.
       lower(trim(min_by(email, survivor_rank) FILTER (WHERE email_canonical IS NOT NULL))) AS email,
       min_by(email_canonical, survivor_rank) FILTER (WHERE email_canonical IS NOT NULL) AS email_canonical,
       min_by(phone_e164, survivor_rank) FILTER (WHERE phone_e164 IS NOT NULL)           AS phone_e164,
       min_by(first_name, survivor_rank) FILTER (WHERE first_name IS NOT NULL)           AS first_name,
       min_by(last_name, survivor_rank) FILTER (WHERE last_name IS NOT NULL)             AS last_name,
       min_by(primary_tag, survivor_rank) FILTER (WHERE primary_tag IS NOT NULL)         AS primary_tag,
       -- The most recently updated store customer: the records with a store
       -- customer id all come from stg_shop_customers (one source, one priority),
       -- so among them the survivorship order is updated_at DESC, then node.
       min_by(store_customer_id, survivor_rank) FILTER (WHERE store_customer_id IS NOT NULL)      AS store_customer_id,
       -- Each store customer is one record (stg_shop_customers has one row per id)
       -- and one node, so counting ids counts distinct ones, without a set per group.
       CAST(count(store_customer_id) AS BIGINT)                                           AS store_customers,
       CAST(count(*) AS BIGINT)                                                            AS source_records
FROM ranked
GROUP BY golden_id
