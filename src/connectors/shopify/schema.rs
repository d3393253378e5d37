//! What lockstep lands from Shopify: one declaration per raw table, in the Admin REST
//! shapes (money as decimal strings in orders, as numbers in refund line items, times
//! with offsets). Child rows carry `_parent` (added by lockstep) with the parent's id
//! and `updated_at`, so staging can dedupe every table by (id, parent version).

use crate::extract::{EntitySchema, Kind::*, col};

/// `raw_<source>.customers`
pub static CUSTOMERS: EntitySchema = EntitySchema {
    entity: "customers",
    key: "id",
    columns: &[
        col("id", &["id"], Id),
        col("email", &["email"], Text),
        col("phone", &["phone"], Text),
        col("first_name", &["first_name"], Text),
        col("last_name", &["last_name"], Text),
        col("state", &["state"], Text),
        col("verified_email", &["verified_email"], Bool),
        col("tags", &["tags"], Text),
        col("currency", &["currency"], Text),
        col("orders_count", &["orders_count"], Int),
        col("total_spent", &["total_spent"], Money),
        col(
            "email_marketing_state",
            &["email_marketing_consent", "state"],
            Text,
        ),
        col("country_code", &["default_address", "country_code"], Text),
        col("created_at", &["created_at"], Time),
        col("updated_at", &["updated_at"], Time),
    ],
};

/// `raw_<source>.orders`
pub static ORDERS: EntitySchema = EntitySchema {
    entity: "orders",
    key: "id",
    columns: &[
        col("id", &["id"], Id),
        col("name", &["name"], Text),
        col("order_number", &["order_number"], Int),
        col("email", &["email"], Text),
        col("phone", &["phone"], Text),
        col("customer_id", &["customer", "id"], Id),
        col("created_at", &["created_at"], Time),
        col("processed_at", &["processed_at"], Time),
        col("updated_at", &["updated_at"], Time),
        col("cancelled_at", &["cancelled_at"], Time),
        col("cancel_reason", &["cancel_reason"], Text),
        col("closed_at", &["closed_at"], Time),
        col("financial_status", &["financial_status"], Text),
        col("fulfillment_status", &["fulfillment_status"], Text),
        col("test", &["test"], Bool),
        col("source_name", &["source_name"], Text),
        col("tags", &["tags"], Text),
        col("currency", &["currency"], Text),
        col("presentment_currency", &["presentment_currency"], Text),
        col("total_line_items_price", &["total_line_items_price"], Money),
        col("subtotal_price", &["subtotal_price"], Money),
        col("total_discounts", &["total_discounts"], Money),
        col("total_tax", &["total_tax"], Money),
        col(
            "total_shipping",
            &["total_shipping_price_set", "shop_money", "amount"],
            Money,
        ),
        col("total_price", &["total_price"], Money),
        col("current_total_price", &["current_total_price"], Money),
        col(
            "presentment_total_price",
            &["total_price_set", "presentment_money", "amount"],
            Money,
        ),
        col(
            "presentment_total_discounts",
            &["total_discounts_set", "presentment_money", "amount"],
            Money,
        ),
        col(
            "presentment_total_tax",
            &["total_tax_set", "presentment_money", "amount"],
            Money,
        ),
        col(
            "presentment_total_shipping",
            &["total_shipping_price_set", "presentment_money", "amount"],
            Money,
        ),
        col("taxes_included", &["taxes_included"], Bool),
        col("discount_codes", &["discount_codes"], Json),
        col("shipping_lines", &["shipping_lines"], Json),
        col("tax_lines", &["tax_lines"], Json),
    ],
};

/// `raw_<source>.order_line_items`
pub static ORDER_LINE_ITEMS: EntitySchema = EntitySchema {
    entity: "order_line_items",
    key: "id",
    columns: &[
        col("id", &["id"], Id),
        col("order_id", &["_parent", "id"], Id),
        col("order_updated_at", &["_parent", "updated_at"], Time),
        col("product_id", &["product_id"], Id),
        col("variant_id", &["variant_id"], Id),
        col("sku", &["sku"], Text),
        col("title", &["title"], Text),
        col("quantity", &["quantity"], Int),
        col("price", &["price"], Money),
        col(
            "presentment_price",
            &["price_set", "presentment_money", "amount"],
            Money,
        ),
        col("total_discount", &["total_discount"], Money),
        col("taxable", &["taxable"], Bool),
        col("tax_lines", &["tax_lines"], Json),
    ],
};

/// `raw_<source>.refunds`
pub static REFUNDS: EntitySchema = EntitySchema {
    entity: "refunds",
    key: "id",
    columns: &[
        col("id", &["id"], Id),
        col("order_id", &["order_id"], Id),
        col("order_updated_at", &["_parent", "updated_at"], Time),
        col("created_at", &["created_at"], Time),
        col("processed_at", &["processed_at"], Time),
        col("note", &["note"], Text),
        col("restock", &["restock"], Bool),
    ],
};

/// `raw_<source>.refund_line_items`
pub static REFUND_LINE_ITEMS: EntitySchema = EntitySchema {
    entity: "refund_line_items",
    key: "id",
    columns: &[
        col("id", &["id"], Id),
        col("refund_id", &["_parent", "refund_id"], Id),
        col("order_id", &["_parent", "id"], Id),
        col("order_updated_at", &["_parent", "updated_at"], Time),
        col("line_item_id", &["line_item_id"], Id),
        col("quantity", &["quantity"], Int),
        col("restock_type", &["restock_type"], Text),
        col("subtotal", &["subtotal"], MoneyNumber),
        col("total_tax", &["total_tax"], MoneyNumber),
        col(
            "presentment_subtotal",
            &["subtotal_set", "presentment_money", "amount"],
            Money,
        ),
    ],
};

/// `raw_<source>.refund_transactions`
pub static REFUND_TRANSACTIONS: EntitySchema = EntitySchema {
    entity: "refund_transactions",
    key: "id",
    columns: &[
        col("id", &["id"], Id),
        col("refund_id", &["_parent", "refund_id"], Id),
        col("order_id", &["order_id"], Id),
        col("order_updated_at", &["_parent", "updated_at"], Time),
        col("kind", &["kind"], Text),
        col("status", &["status"], Text),
        col("gateway", &["gateway"], Text),
        col("amount", &["amount"], Money),
        col("currency", &["currency"], Text),
        col("test", &["test"], Bool),
        col("processed_at", &["processed_at"], Time),
    ],
};

/// `raw_<source>.order_adjustments` (refund-level adjustments such as shipping refunds)
pub static ORDER_ADJUSTMENTS: EntitySchema = EntitySchema {
    entity: "order_adjustments",
    key: "id",
    columns: &[
        col("id", &["id"], Id),
        col("refund_id", &["refund_id"], Id),
        col("order_id", &["order_id"], Id),
        col("order_updated_at", &["_parent", "updated_at"], Time),
        col("kind", &["kind"], Text),
        col("reason", &["reason"], Text),
        col("amount", &["amount"], Money),
        col("tax_amount", &["tax_amount"], Money),
    ],
};

/// `raw_<source>.products`
pub static PRODUCTS: EntitySchema = EntitySchema {
    entity: "products",
    key: "id",
    columns: &[
        col("id", &["id"], Id),
        col("title", &["title"], Text),
        col("vendor", &["vendor"], Text),
        col("product_type", &["product_type"], Text),
        col("status", &["status"], Text),
        col("tags", &["tags"], Text),
        col("created_at", &["created_at"], Time),
        col("updated_at", &["updated_at"], Time),
    ],
};

/// `raw_<source>.product_variants`
pub static PRODUCT_VARIANTS: EntitySchema = EntitySchema {
    entity: "product_variants",
    key: "id",
    columns: &[
        col("id", &["id"], Id),
        col("product_id", &["product_id"], Id),
        col("product_updated_at", &["_parent", "updated_at"], Time),
        col("sku", &["sku"], Text),
        col("title", &["title"], Text),
        col("price", &["price"], Money),
        col("inventory_item_id", &["inventory_item_id"], Id),
        col("updated_at", &["updated_at"], Time),
    ],
};

/// `raw_<source>.inventory_levels`
/// A level is identified by item and location together; lockstep adds that pair as
/// `_key` (`"<inventory_item_id>:<location_id>"`).
pub static INVENTORY_LEVELS: EntitySchema = EntitySchema {
    entity: "inventory_levels",
    key: "level_key",
    columns: &[
        col("level_key", &["_key"], Text),
        col("inventory_item_id", &["inventory_item_id"], Id),
        col("location_id", &["location_id"], Id),
        col("available", &["available"], Int),
        col("updated_at", &["updated_at"], Time),
    ],
};

/// Entities of the orders stream, primary first.
pub static ORDER_ENTITIES: [&EntitySchema; 6] = [
    &ORDERS,
    &ORDER_LINE_ITEMS,
    &REFUNDS,
    &REFUND_LINE_ITEMS,
    &REFUND_TRANSACTIONS,
    &ORDER_ADJUSTMENTS,
];
