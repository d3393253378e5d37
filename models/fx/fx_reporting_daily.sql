-- One row per calendar day and currency: the rate converting that currency into the
-- reporting currency, as of the last ECB publication on or before the day
-- (weekends and holidays carry the previous publication).
WITH daily AS (
  SELECT date, currency, rate, rate_date FROM fx_daily('models.fx_rates')
)
SELECT x.date                                               AS date,
       x.currency                                           AS currency,
       reporting_currency()                                 AS reporting_currency,
       CAST(r.rate / x.rate AS DECIMAL(18,10))              AS fx_rate_used,
       greatest(x.rate_date, r.rate_date)                   AS fx_rate_date
FROM daily x
JOIN daily r ON (r.date = x.date) AND (r.currency = reporting_currency())
