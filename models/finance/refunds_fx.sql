-- One row per refund: what it gives back, in shop currency and in the reporting
-- currency at the rate of the refund's date. Returns = refunded line subtotals;
-- shipping refunded = − shipping_refund adjustments (Shopify reports them negative);
-- tax refunded = refunded line tax − shipping_refund adjustment tax.
WITH lines AS (
  SELECT refund_id,
         sum(subtotal)             AS returns,
         sum(total_tax)            AS line_tax_refunded,
         sum(presentment_subtotal) AS presentment_returns
  FROM models.stg_shop_refund_lines
  GROUP BY refund_id
), adj AS (
  SELECT refund_id,
         sum(CASE WHEN is_shipping_refund THEN -amount ELSE CAST(0 AS DECIMAL(18,2)) END)     AS shipping_refunded,
         sum(CASE WHEN is_shipping_refund THEN -tax_amount ELSE CAST(0 AS DECIMAL(18,2)) END) AS shipping_tax_refunded,
         sum(CASE WHEN is_shipping_refund THEN CAST(0 AS DECIMAL(18,2)) ELSE -amount END)     AS other_adjustments
  FROM models.stg_shop_order_adjustments
  GROUP BY refund_id
), tx AS (
  SELECT refund_id,
         sum(CASE WHEN is_successful_refund THEN amount ELSE CAST(0 AS DECIMAL(18,2)) END) AS refunded_amount
  FROM models.stg_shop_refund_transactions
  GROUP BY refund_id
), amounts AS (
  SELECT r.source, r.refund_id, r.order_id, r.refunded_at, r.refunded_date,
         o.shop_currency, o.presentment_currency, o.counts_in_sales, o.is_test,
         CAST(COALESCE(l.returns, 0) AS DECIMAL(18,2))                                       AS returns,
         CAST(COALESCE(a.shipping_refunded, 0) AS DECIMAL(18,2))                             AS shipping_refunded,
         CAST(COALESCE(l.line_tax_refunded, 0) + COALESCE(a.shipping_tax_refunded, 0) AS DECIMAL(18,2)) AS tax_refunded,
         CAST(COALESCE(a.other_adjustments, 0) AS DECIMAL(18,2))                             AS other_adjustments,
         CAST(COALESCE(t.refunded_amount, 0) AS DECIMAL(18,2))                               AS refunded_amount,
         CAST(l.presentment_returns AS DECIMAL(18,2))                                        AS presentment_returns
  FROM models.stg_shop_refunds r
  JOIN models.stg_shop_orders o ON o.order_id = r.order_id
  LEFT JOIN lines l ON l.refund_id = r.refund_id
  LEFT JOIN adj a ON a.refund_id = r.refund_id
  LEFT JOIN tx t ON t.refund_id = r.refund_id
)
SELECT m.*,
       reporting_currency()                                      AS reporting_currency,
       fx.fx_rate_used,
       fx.fx_rate_date,
       CAST(m.returns * fx.fx_rate_used AS DECIMAL(18,2))           AS returns_reporting,
       CAST(m.shipping_refunded * fx.fx_rate_used AS DECIMAL(18,2)) AS shipping_refunded_reporting,
       CAST(m.tax_refunded * fx.fx_rate_used AS DECIMAL(18,2))      AS tax_refunded_reporting
FROM amounts m
LEFT JOIN models.fx_reporting_daily fx ON (fx.date = m.refunded_date) AND (fx.currency = m.shop_currency)
