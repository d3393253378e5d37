//! What lockstep lands from Klaviyo: profiles (JSON:API resources).

use crate::extract::{EntitySchema, Kind::*, col};

/// `raw_<source>.profiles`
pub static PROFILES: EntitySchema = EntitySchema {
    entity: "profiles",
    key: "id",
    columns: &[
        col("id", &["id"], Text),
        col("email", &["attributes", "email"], Text),
        col("phone_number", &["attributes", "phone_number"], Text),
        col("external_id", &["attributes", "external_id"], Text),
        col("first_name", &["attributes", "first_name"], Text),
        col("last_name", &["attributes", "last_name"], Text),
        col("properties", &["attributes", "properties"], Json),
        col("created_at", &["attributes", "created"], Time),
        col("updated_at", &["attributes", "updated"], Time),
    ],
};

/// Entities of the profiles stream.
pub static PROFILE_ENTITIES: [&EntitySchema; 1] = [&PROFILES];
