-- Latest version of each store customer (source `shop`: raw_shop.customers).
WITH ranked AS (
  SELECT c.*,
         row_number() OVER (PARTITION BY c.id ORDER BY c.updated_at DESC, c._extracted_at DESC, c._batch_id DESC) AS version_rank
  FROM raw_shop.customers c
)
SELECT
  'shop'                                        AS source,
  id                                            AS customer_id,
  email,
  canonical_email(email)                        AS email_canonical,
  phone,
  e164(phone, COALESCE(country_code, 'US'))     AS phone_e164,
  first_name,
  last_name,
  state,
  verified_email,
  tags,
  NULLIF(trim(split_part(COALESCE(tags, ''), ',', 1)), '') AS primary_tag,
  currency,
  orders_count,
  total_spent,
  email_marketing_state,
  country_code,
  created_at,
  updated_at,
  _extracted_at                                 AS extracted_at
FROM ranked
WHERE version_rank = 1
