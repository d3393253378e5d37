-- Latest version of each HubSpot contact; property strings cast to types.
WITH ranked AS (
  SELECT c.*,
         row_number() OVER (PARTITION BY c.id ORDER BY c.updated_at DESC, c._extracted_at DESC, c._batch_id DESC) AS version_rank
  FROM raw_hubspot.contacts c
)
SELECT
  'hubspot'                                     AS source,
  id                                            AS contact_id,
  email,
  canonical_email(email)                        AS email_canonical,
  phone,
  e164(phone, 'US')                             AS phone_e164,
  firstname                                     AS first_name,
  lastname                                      AS last_name,
  lifecyclestage,
  TRY_CAST(NULLIF(trim(total_spent), '') AS DECIMAL(18,2)) AS total_spent,
  TRY_CAST(NULLIF(trim(orders_count), '') AS BIGINT)       AS orders_count,
  NULLIF(trim(last_order_date), '')             AS last_order_date,
  primary_tag,
  lockstep_golden_id,
  COALESCE(archived, false)                     AS is_archived,
  created_at,
  updated_at
FROM ranked
WHERE version_rank = 1
