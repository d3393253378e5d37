-- One row per order that counts in sales (not a test order, not voided): gross,
-- discounts, returns, net, shipping, taxes and total sales in shop currency, the
-- amounts the store reports in presentment currency, and reporting-currency amounts
-- (order amounts at the rate of the order's processed date; returns and refunded
-- shipping/tax at the rate of each refund's date, see refunds_fx).
WITH lines AS (
  -- Summed per order version and joined to the version stg_shop_orders keeps:
  -- the rows stg_shop_order_lines holds, without matching each line to its order.
  SELECT order_id,
         order_updated_at,
         sum(gross_sales)             AS gross_sales,
         sum(presentment_gross_sales) AS presentment_gross_sales
  FROM models.stg_shop_order_line_versions
  GROUP BY order_id, order_updated_at
), refunds AS (
  -- Summed and narrowed to the output's type here, per refunded order (a tenth
  -- of the orders), so the LEFT JOIN below only fills the orders without a refund.
  SELECT order_id,
         CAST(sum(returns) AS DECIMAL(18,2))                     AS returns,
         CAST(sum(shipping_refunded) AS DECIMAL(18,2))           AS shipping_refunded,
         CAST(sum(tax_refunded) AS DECIMAL(18,2))                AS tax_refunded,
         CAST(sum(refunded_amount) AS DECIMAL(18,2))             AS refunded_amount,
         CAST(sum(presentment_returns) AS DECIMAL(18,2))         AS presentment_returns,
         CAST(sum(returns_reporting) AS DECIMAL(18,2))           AS returns_reporting,
         CAST(sum(shipping_refunded_reporting) AS DECIMAL(18,2)) AS shipping_refunded_reporting,
         CAST(sum(tax_refunded_reporting) AS DECIMAL(18,2))      AS tax_refunded_reporting
  FROM models.refunds_fx
  GROUP BY order_id
), shop AS (
  -- Defaults are typed zeros: an integer 0 would widen each COALESCE to a larger
  -- decimal that the CAST then narrows (and range-checks) again on every row.
  SELECT o.source, o.order_id, o.order_name, o.customer_id, o.email_canonical,
         o.processed_at, o.processed_date, o.financial_status, o.is_cancelled,
         o.shop_currency, o.presentment_currency,
         CAST(COALESCE(l.gross_sales, CAST(0 AS DECIMAL(18,2))) AS DECIMAL(18,2))         AS gross_sales,
         CAST(COALESCE(o.total_discounts, CAST(0 AS DECIMAL(18,2))) AS DECIMAL(18,2))     AS discounts,
         COALESCE(r.returns, CAST(0 AS DECIMAL(18,2)))             AS returns,
         CAST(COALESCE(o.total_shipping, CAST(0 AS DECIMAL(18,2))) AS DECIMAL(18,2))      AS shipping_charged,
         COALESCE(r.shipping_refunded, CAST(0 AS DECIMAL(18,2)))   AS shipping_refunded,
         CAST(COALESCE(o.total_tax, CAST(0 AS DECIMAL(18,2))) AS DECIMAL(18,2))           AS tax_charged,
         COALESCE(r.tax_refunded, CAST(0 AS DECIMAL(18,2)))        AS tax_refunded,
         CAST(COALESCE(o.total_price, CAST(0 AS DECIMAL(18,2))) AS DECIMAL(18,2))         AS total_price,
         COALESCE(r.refunded_amount, CAST(0 AS DECIMAL(18,2)))     AS refunded_amount,
         CAST(l.presentment_gross_sales AS DECIMAL(18,2))          AS presentment_gross_sales,
         o.presentment_total_discounts                             AS presentment_discounts,
         r.presentment_returns                                      AS presentment_returns,
         o.presentment_total_shipping                              AS presentment_shipping,
         o.presentment_total_tax                                   AS presentment_tax,
         o.presentment_total_price                                 AS presentment_total_price,
         COALESCE(r.returns_reporting, CAST(0 AS DECIMAL(18,2)))             AS returns_reporting,
         COALESCE(r.shipping_refunded_reporting, CAST(0 AS DECIMAL(18,2)))   AS shipping_refunded_reporting,
         COALESCE(r.tax_refunded_reporting, CAST(0 AS DECIMAL(18,2)))        AS tax_refunded_reporting
  FROM models.stg_shop_orders o
  -- Joined on order_id alone, the version compared in the join's filter: with both
  -- as keys the orders were hashed and moved between partitions once for this join
  -- and again for the refunds (keyed by order_id), and the two-column probe was the
  -- query's slowest step (9 s of 12 at 10M orders, 2.8 s so). The difference of
  -- the two timestamps is not a key DataFusion can extract (a plain `=` is).
  LEFT JOIN lines l ON (l.order_id = o.order_id)
                    AND (CAST(l.order_updated_at AS BIGINT) - CAST(o.updated_at AS BIGINT) = 0)
  LEFT JOIN refunds r ON r.order_id = o.order_id
  WHERE o.counts_in_sales
), converted AS (
  SELECT s.*,
         fx.fx_rate_used,
         fx.fx_rate_date,
         CAST(s.gross_sales * fx.fx_rate_used AS DECIMAL(18,2))      AS gross_sales_reporting,
         CAST(s.discounts * fx.fx_rate_used AS DECIMAL(18,2))        AS discounts_reporting,
         CAST(s.shipping_charged * fx.fx_rate_used AS DECIMAL(18,2)) AS shipping_charged_reporting,
         CAST(s.tax_charged * fx.fx_rate_used AS DECIMAL(18,2))      AS tax_charged_reporting
  FROM shop s
  LEFT JOIN models.fx_reporting_daily fx ON (fx.date = s.processed_date) AND (fx.currency = s.shop_currency)
)
SELECT c.source, c.order_id, c.order_name, c.customer_id, c.email_canonical,
       c.processed_at, c.processed_date, c.financial_status, c.is_cancelled,
       c.shop_currency, c.presentment_currency, reporting_currency() AS reporting_currency,
       c.gross_sales, c.discounts, c.returns,
       CAST(c.gross_sales - c.discounts - c.returns AS DECIMAL(18,2))                    AS net_sales,
       c.shipping_charged, c.shipping_refunded,
       CAST(c.shipping_charged - c.shipping_refunded AS DECIMAL(18,2))                   AS shipping,
       c.tax_charged, c.tax_refunded,
       CAST(c.tax_charged - c.tax_refunded AS DECIMAL(18,2))                             AS taxes,
       CAST(c.gross_sales - c.discounts - c.returns + c.shipping_charged - c.shipping_refunded
            + c.tax_charged - c.tax_refunded AS DECIMAL(18,2))                           AS total_sales,
       c.total_price, c.refunded_amount,
       c.presentment_gross_sales, c.presentment_discounts, c.presentment_returns,
       c.presentment_shipping, c.presentment_tax, c.presentment_total_price,
       c.fx_rate_used, c.fx_rate_date,
       c.gross_sales_reporting, c.discounts_reporting, c.returns_reporting,
       CAST(c.gross_sales_reporting - c.discounts_reporting - c.returns_reporting AS DECIMAL(18,2)) AS net_sales_reporting,
       CAST(c.shipping_charged_reporting - c.shipping_refunded_reporting AS DECIMAL(18,2))         AS shipping_reporting,
       CAST(c.tax_charged_reporting - c.tax_refunded_reporting AS DECIMAL(18,2))                   AS taxes_reporting,
       CAST(c.gross_sales_reporting - c.discounts_reporting - c.returns_reporting
            + c.shipping_charged_reporting - c.shipping_refunded_reporting
            + c.tax_charged_reporting - c.tax_refunded_reporting AS DECIMAL(18,2))                 AS total_sales_reporting
FROM converted c
