-- Per golden customer: refund-adjusted LTV (Σ net sales of all their counted orders,
-- reporting currency), order count, first/last order date, primary tag.
WITH orders AS (
  SELECT g.golden_id, o.order_id, o.processed_date, o.net_sales_reporting, o.net_sales, o.shop_currency
  FROM models.order_golden_ids g
  JOIN models.orders_fx o ON g.order_id = o.order_id
), per_customer AS (
  SELECT golden_id,
         sum(net_sales_reporting) AS ltv,
         count(*)                 AS orders_count,
         min(processed_date)      AS first_order_date,
         max(processed_date)      AS last_order_date
  FROM orders
  GROUP BY golden_id
)
SELECT gc.golden_id,
       reporting_currency()                                  AS reporting_currency,
       CAST(COALESCE(p.ltv, 0) AS DECIMAL(18,2))             AS ltv_reporting,
       CAST(COALESCE(p.orders_count, 0) AS BIGINT)           AS orders_count,
       p.first_order_date,
       p.last_order_date,
       gc.primary_tag
FROM models.golden_customers gc
LEFT JOIN per_customer p ON p.golden_id = gc.golden_id
