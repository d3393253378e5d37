-- Per golden customer: refund-adjusted LTV (Σ net sales of all their counted orders,
-- reporting currency), order count, first/last order date, primary tag.
-- Orders are summed per store customer (a guest checkout: per order) and those sums
-- per golden customer (store_golden_ids), which equals summing each order under its
-- golden id without matching every order to one.
WITH per_key AS (
  -- store_key as store_golden_ids defines it: the customer id, a guest order's id negated.
  SELECT COALESCE(customer_id, -order_id) AS store_key,
         sum(net_sales_reporting) AS ltv,
         count(*)                 AS orders_count,
         min(processed_date)      AS first_order_date,
         max(processed_date)      AS last_order_date
  FROM models.orders_fx
  GROUP BY store_key
), per_customer AS (
  SELECT k.golden_id,
         sum(p.ltv)              AS ltv,
         sum(p.orders_count)     AS orders_count,
         min(p.first_order_date) AS first_order_date,
         max(p.last_order_date)  AS last_order_date
  FROM per_key p
  JOIN models.store_golden_ids k ON k.store_key = p.store_key
  GROUP BY k.golden_id
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
