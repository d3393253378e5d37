-- Per day (UTC), store and shop currency: the sales-report figures. Orders and their
-- gross/discounts/shipping/tax charged are booked on the order's processed date;
-- returns and refunded shipping/tax on the refund's date. Test and voided orders
-- never count (nor do their refunds).
WITH events AS (
  SELECT source, processed_date AS day, shop_currency AS currency,
         1 AS orders, gross_sales, discounts, CAST(0 AS DECIMAL(18,2)) AS returns,
         shipping_charged, CAST(0 AS DECIMAL(18,2)) AS shipping_refunded,
         tax_charged, CAST(0 AS DECIMAL(18,2)) AS tax_refunded,
         CAST(gross_sales_reporting - discounts_reporting AS DECIMAL(18,2)) AS net_sales_reporting
  FROM models.orders_fx
  UNION ALL
  SELECT source, refunded_date, shop_currency,
         0, CAST(0 AS DECIMAL(18,2)), CAST(0 AS DECIMAL(18,2)), returns,
         CAST(0 AS DECIMAL(18,2)), shipping_refunded,
         CAST(0 AS DECIMAL(18,2)), tax_refunded,
         CAST(-returns_reporting AS DECIMAL(18,2))
  FROM models.refunds_fx
  WHERE counts_in_sales
)
SELECT source                                                        AS store,
       day,
       currency,
       CAST(sum(orders) AS BIGINT)                                   AS orders,
       CAST(sum(gross_sales) AS DECIMAL(18,2))                       AS gross_sales,
       CAST(sum(discounts) AS DECIMAL(18,2))                         AS discounts,
       CAST(sum(returns) AS DECIMAL(18,2))                           AS returns,
       CAST(sum(gross_sales) - sum(discounts) - sum(returns) AS DECIMAL(18,2)) AS net_sales,
       CAST(sum(shipping_charged) - sum(shipping_refunded) AS DECIMAL(18,2))   AS shipping,
       CAST(sum(tax_charged) - sum(tax_refunded) AS DECIMAL(18,2))             AS taxes,
       CAST(sum(gross_sales) - sum(discounts) - sum(returns)
            + sum(shipping_charged) - sum(shipping_refunded)
            + sum(tax_charged) - sum(tax_refunded) AS DECIMAL(18,2))           AS total_sales,
       reporting_currency()                                          AS reporting_currency,
       CAST(sum(net_sales_reporting) AS DECIMAL(18,2))               AS net_sales_reporting
FROM events
GROUP BY source, day, currency
