//! What lockstep lands from HubSpot: contacts with the properties identity
//! resolution and audits read. Property values are strings on HubSpot's wire, and
//! stay text here; models cast them.

use crate::extract::{EntitySchema, Kind::*, col};

/// Contact properties requested from HubSpot.
pub const CONTACT_PROPERTIES: &[&str] = &[
    "email",
    "firstname",
    "lastname",
    "phone",
    "lifecyclestage",
    "createdate",
    "lastmodifieddate",
    "total_spent",
    "orders_count",
    "last_order_date",
    "primary_tag",
    "lockstep_golden_id",
];

/// `raw_<source>.contacts`
pub static CONTACTS: EntitySchema = EntitySchema {
    entity: "contacts",
    key: "id",
    columns: &[
        col("id", &["id"], Id),
        col("email", &["properties", "email"], Text),
        col("firstname", &["properties", "firstname"], Text),
        col("lastname", &["properties", "lastname"], Text),
        col("phone", &["properties", "phone"], Text),
        col("lifecyclestage", &["properties", "lifecyclestage"], Text),
        col("total_spent", &["properties", "total_spent"], Text),
        col("orders_count", &["properties", "orders_count"], Text),
        col("last_order_date", &["properties", "last_order_date"], Text),
        col("primary_tag", &["properties", "primary_tag"], Text),
        col(
            "lockstep_golden_id",
            &["properties", "lockstep_golden_id"],
            Text,
        ),
        col("archived", &["archived"], Bool),
        col("created_at", &["createdAt"], Time),
        col("updated_at", &["updatedAt"], Time),
    ],
};

/// Entities of the contacts stream.
pub static CONTACT_ENTITIES: [&EntitySchema; 1] = [&CONTACTS];
