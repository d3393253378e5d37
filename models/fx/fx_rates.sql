-- ECB euro foreign exchange reference rates, one row per publication date and
-- currency (units of the currency per 1 EUR), with EUR itself at 1 on every
-- publication date. Source: the seed table raw_seeds.ecb_rates, the long form of the ECB
-- CSV (rate_date, currency, rate as text; 'N/A' and blanks are dropped).
SELECT CAST(rate_date AS DATE)                    AS rate_date,
       upper(trim(currency))                      AS currency,
       CAST(trim(rate) AS DECIMAL(14,6))          AS rate
FROM raw_seeds.ecb_rates
WHERE (rate IS NOT NULL) AND (trim(rate) NOT IN ('', 'N/A')) AND (upper(trim(currency)) <> 'EUR')
UNION ALL
SELECT DISTINCT CAST(rate_date AS DATE)           AS rate_date,
       'EUR'                                      AS currency,
       CAST(1 AS DECIMAL(14,6))                   AS rate
FROM raw_seeds.ecb_rates
