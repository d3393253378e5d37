//! Seed records for the CRM emulators: what HubSpot and Klaviyo hold before lockstep
//! first talks to them (produced by the store generator, or by a test).

use std::collections::BTreeMap;

/// A HubSpot contact as stored: property name → string value (HubSpot stores every
/// property value as a string on the wire).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeedContact {
    /// Contact properties; `email` is the usual unique identifier.
    pub properties: BTreeMap<String, String>,
}

/// A Klaviyo profile as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeedProfile {
    /// Email address (one of the profile identifiers).
    pub email: Option<String>,
    /// Phone number in E.164 (one of the profile identifiers).
    pub phone_number: Option<String>,
    /// Caller-chosen external id (one of the profile identifiers).
    pub external_id: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Custom properties.
    pub properties: serde_json::Map<String, serde_json::Value>,
}
