-- Record fidelity (the seeds' north-star KPI): the share of customers whose CRM
-- record matches the warehouse on the four fields that drive lifecycle automation.
-- A field matches within the seeds' tolerance: total spend to the cent, last order
-- date within one day, order count within one order, primary tag exactly.
-- {crm} is the landed CRM contacts table, {truth} the model the syncs push.
WITH crm_ranked AS (
  SELECT lower(trim(email)) AS email,
         TRY_CAST(NULLIF(trim(total_spent), '') AS DECIMAL(18,2)) AS total_spent,
         TRY_CAST(NULLIF(trim(orders_count), '') AS BIGINT)       AS orders_count,
         TRY_CAST(NULLIF(trim(last_order_date), '') AS DATE)      AS last_order_date,
         NULLIF(trim(primary_tag), '')                            AS primary_tag,
         row_number() OVER (PARTITION BY lower(trim(email)) ORDER BY updated_at DESC, _extracted_at DESC) AS version_rank
  FROM {crm}
  WHERE (email IS NOT NULL) AND (NOT COALESCE(archived, false))
), crm AS (
  SELECT * FROM crm_ranked WHERE version_rank = 1
), truth AS (
  SELECT lower(trim(email)) AS email, total_spent, orders_count,
         CAST(last_order_date AS DATE) AS last_order_date, NULLIF(trim(primary_tag), '') AS primary_tag
  FROM {truth}
), compared AS (
  SELECT t.email,
         (c.email IS NOT NULL) AS in_crm,
         (abs(COALESCE(c.total_spent, CAST(0 AS DECIMAL(18,2))) - t.total_spent) <= CAST(0.01 AS DECIMAL(18,2))) AS spend_ok,
         ((c.last_order_date IS NULL AND t.last_order_date IS NULL)
           OR (abs(CAST(c.last_order_date AS INT) - CAST(t.last_order_date AS INT)) <= 1)) AS date_ok,
         (abs(COALESCE(c.orders_count, 0) - t.orders_count) <= 1) AS count_ok,
         (c.primary_tag IS NOT DISTINCT FROM t.primary_tag) AS tag_ok
  FROM truth t
  LEFT JOIN crm c ON (c.email = t.email)
)
SELECT count(*)                                                                  AS sampled,
       sum(CASE WHEN in_crm THEN 1 ELSE 0 END)                                   AS in_crm,
       sum(CASE WHEN (in_crm AND COALESCE(spend_ok, false) AND COALESCE(date_ok, false)
                      AND COALESCE(count_ok, false) AND COALESCE(tag_ok, false)) THEN 1 ELSE 0 END) AS matched,
       sum(CASE WHEN COALESCE(spend_ok, false) THEN 0 ELSE 1 END)                AS spend_mismatch,
       sum(CASE WHEN COALESCE(date_ok, false) THEN 0 ELSE 1 END)                 AS date_mismatch,
       sum(CASE WHEN COALESCE(count_ok, false) THEN 0 ELSE 1 END)                AS count_mismatch,
       sum(CASE WHEN COALESCE(tag_ok, false) THEN 0 ELSE 1 END)                  AS tag_mismatch
FROM compared
