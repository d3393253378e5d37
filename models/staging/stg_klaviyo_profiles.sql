-- Latest version of each Klaviyo profile.
WITH ranked AS (
  SELECT p.*,
         row_number() OVER (PARTITION BY p.id ORDER BY p.updated_at DESC, p._extracted_at DESC, p._batch_id DESC) AS version_rank
  FROM raw_klaviyo.profiles p
)
SELECT
  'klaviyo'                                     AS source,
  id                                            AS profile_id,
  email,
  canonical_email(email)                        AS email_canonical,
  phone_number                                  AS phone,
  e164(phone_number, 'US')                      AS phone_e164,
  external_id,
  first_name,
  last_name,
  properties,
  created_at,
  updated_at
FROM ranked
WHERE version_rank = 1
