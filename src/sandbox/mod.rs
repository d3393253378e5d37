//! Local emulators of Shopify, HubSpot and Klaviyo (see issue 3).

pub mod seed;
