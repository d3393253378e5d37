//! Profiles: records, identifier indexes (email, phone number, external id), the
//! "null clears, absent keeps" patch semantics of profile-import, and identity
//! resolution shared by profile-import, bulk import and events.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use crate::sandbox::seed::SeedProfile;

/// Scalar profile attributes that profile-import may set or clear.
pub const SCALAR_FIELDS: &[&str] = &[
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "organization",
    "locale",
    "title",
    "image",
];

/// Identifier attributes, in matching priority.
const IDENTIFIERS: &[&str] = &["email", "external_id", "phone_number"];

/// Location sub-fields.
const LOCATION_FIELDS: &[&str] = &[
    "address1",
    "address2",
    "city",
    "country",
    "latitude",
    "longitude",
    "region",
    "zip",
    "timezone",
    "ip",
];

/// A 26-character Crockford base32 id (ULID-shaped, like Klaviyo's profile ids),
/// time-ordered because it encodes a v7 UUID.
pub fn new_id() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let n = uuid::Uuid::now_v7().as_u128();
    (0..26)
        .rev()
        .map(|i| ALPHABET[((n >> (i * 5)) & 31) as usize] as char)
        .collect()
}

/// Klaviyo's timestamp format (`2024-01-01T00:00:00+00:00`).
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// One stored profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Profile id.
    pub id: String,
    /// Scalar attributes that are set.
    pub fields: BTreeMap<String, String>,
    /// Location sub-fields that are set.
    pub location: Map<String, Value>,
    /// Custom properties.
    pub properties: Map<String, Value>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last change.
    pub updated: DateTime<Utc>,
    /// Time of the latest event.
    pub last_event_date: Option<DateTime<Utc>>,
}

impl Profile {
    /// A scalar attribute.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The JSON:API resource object; `base` is the server's base URL.
    pub fn to_resource(&self, base: &str, only: Option<&[String]>) -> Value {
        let mut attrs = Map::new();
        for f in SCALAR_FIELDS {
            attrs.insert(
                f.to_string(),
                self.fields.get(*f).map_or(Value::Null, |v| json!(v)),
            );
        }
        attrs.insert("anonymous_id".into(), Value::Null);
        attrs.insert("created".into(), json!(fmt_time(self.created)));
        attrs.insert("updated".into(), json!(fmt_time(self.updated)));
        attrs.insert(
            "last_event_date".into(),
            self.last_event_date
                .map_or(Value::Null, |t| json!(fmt_time(t))),
        );
        let mut location = Map::new();
        for f in LOCATION_FIELDS {
            location.insert(
                f.to_string(),
                self.location.get(*f).cloned().unwrap_or(Value::Null),
            );
        }
        attrs.insert("location".into(), Value::Object(location));
        attrs.insert("properties".into(), Value::Object(self.properties.clone()));
        if let Some(only) = only {
            attrs.retain(|k, _| only.iter().any(|o| o == k));
        }
        let self_link = format!("{base}/api/profiles/{}/", self.id);
        json!({
            "type": "profile",
            "id": self.id,
            "attributes": attrs,
            "relationships": {
                "lists": {"links": {"self": format!("{self_link}relationships/lists/"), "related": format!("{self_link}lists/")}},
                "segments": {"links": {"self": format!("{self_link}relationships/segments/"), "related": format!("{self_link}segments/")}},
            },
            "links": {"self": self_link},
        })
    }
}

/// A field change: `Set` a value, or `Clear` it (JSON null). Absent fields are
/// simply not in the patch.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// New value.
    Set(Value),
    /// Remove the value.
    Clear,
}

/// A validated profile write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileWrite {
    /// `data.id`, when the caller addresses a profile by id.
    pub id: Option<String>,
    /// Scalar attribute changes.
    pub fields: BTreeMap<String, Change>,
    /// Location sub-field changes.
    pub location: BTreeMap<String, Change>,
    /// Custom property changes.
    pub properties: BTreeMap<String, Change>,
}

impl ProfileWrite {
    /// The identifier values being set (normalised), for matching.
    fn identifiers(&self) -> Vec<(&'static str, String)> {
        IDENTIFIERS
            .iter()
            .filter_map(|k| match self.fields.get(*k) {
                Some(Change::Set(Value::String(v))) => Some((*k, norm(k, v))),
                _ => None,
            })
            .collect()
    }
}

fn norm(field: &str, v: &str) -> String {
    if field == "email" {
        v.trim().to_ascii_lowercase()
    } else {
        v.trim().to_string()
    }
}

fn valid_email(v: &str) -> bool {
    let v = v.trim();
    match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !v.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn valid_phone(v: &str) -> bool {
    let digits = v.strip_prefix('+').unwrap_or("");
    (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Validates a profile resource's `attributes` (and optional `id`) into a write.
/// `pointer` is the JSON pointer of the resource object (for error sources).
pub fn parse_write(
    resource: &Value,
    pointer: &str,
    require_identifier: bool,
) -> Result<ProfileWrite, ApiError> {
    let attrs_ptr = format!("{pointer}/attributes");
    if let Some(t) = resource.get("type")
        && t != "profile"
    {
        return Err(ApiError::invalid(
            format!(
                "The type '{}' does not match the resource type 'profile'.",
                t.as_str().unwrap_or("?")
            ),
            &format!("{pointer}/type"),
        ));
    }
    let attrs = resource
        .get("attributes")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::invalid("'attributes' is a required field.", &attrs_ptr))?;
    let mut w = ProfileWrite {
        id: resource
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..ProfileWrite::default()
    };
    for (k, v) in attrs {
        let at = format!("{attrs_ptr}/{k}");
        match k.as_str() {
            "location" => match v {
                Value::Null => {
                    for f in LOCATION_FIELDS {
                        w.location.insert(f.to_string(), Change::Clear);
                    }
                }
                Value::Object(loc) => {
                    for (lk, lv) in loc {
                        if !LOCATION_FIELDS.contains(&lk.as_str()) {
                            return Err(ApiError::invalid(
                                format!("'{lk}' is not a valid field for the resource 'location'."),
                                &format!("{at}/{lk}"),
                            ));
                        }
                        w.location.insert(
                            lk.clone(),
                            if lv.is_null() {
                                Change::Clear
                            } else {
                                Change::Set(lv.clone())
                            },
                        );
                    }
                }
                _ => return Err(ApiError::invalid("'location' must be an object.", &at)),
            },
            "properties" => match v {
                Value::Null => {}
                Value::Object(props) => {
                    for (pk, pv) in props {
                        w.properties.insert(
                            pk.clone(),
                            if pv.is_null() {
                                Change::Clear
                            } else {
                                Change::Set(pv.clone())
                            },
                        );
                    }
                }
                _ => return Err(ApiError::invalid("'properties' must be an object.", &at)),
            },
            "_kx" | "anonymous_id" => {}
            f if SCALAR_FIELDS.contains(&f) => match v {
                Value::Null => {
                    w.fields.insert(k.clone(), Change::Clear);
                }
                Value::String(s) => {
                    if f == "email" && !valid_email(s) {
                        return Err(ApiError::invalid("Invalid email address", &at));
                    }
                    if f == "phone_number" && !valid_phone(s.trim()) {
                        return Err(ApiError::invalid(
                            "Invalid phone number format (Example of a valid phone number format: +12345678901)",
                            &at,
                        ));
                    }
                    w.fields.insert(k.clone(), Change::Set(json!(norm(f, s))));
                }
                _ => return Err(ApiError::invalid(format!("'{k}' must be a string."), &at)),
            },
            _ => {
                return Err(ApiError::invalid(
                    format!("'{k}' is not a valid field for the resource 'profile'."),
                    &at,
                ));
            }
        }
    }
    if require_identifier
        && w.id.is_none()
        && w.identifiers().is_empty()
        && !attrs.contains_key("_kx")
    {
        return Err(ApiError::invalid(
            "One of `email`, `phone_number`, `external_id`, or `id` is required to identify the profile.",
            &attrs_ptr,
        ));
    }
    Ok(w)
}

/// All profiles and their identifier indexes.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    by_id: BTreeMap<String, Profile>,
    /// (updated as epoch microseconds, id) of every profile: incremental extractors
    /// list by `updated`, and walking this from a page's cursor costs a page, where
    /// filtering and ordering every profile per page made listing 734k profiles take
    /// quadratic time.
    by_updated: BTreeSet<(i64, String)>,
    index: HashMap<(&'static str, String), String>,
    last_stamp: Option<DateTime<Utc>>,
}

impl Profiles {
    /// Profiles from seeds.
    pub fn from_seed(seed: &[SeedProfile]) -> Self {
        let mut p = Self::default();
        for s in seed {
            let now = p.stamp();
            let mut fields = BTreeMap::new();
            let pairs = [
                ("email", &s.email),
                ("phone_number", &s.phone_number),
                ("external_id", &s.external_id),
                ("first_name", &s.first_name),
                ("last_name", &s.last_name),
            ];
            for (k, v) in pairs {
                if let Some(v) = v {
                    fields.insert(k.to_string(), norm(k, v));
                }
            }
            let profile = Profile {
                id: new_id(),
                fields,
                location: Map::new(),
                properties: s.properties.clone(),
                created: now,
                updated: now,
                last_event_date: None,
            };
            p.reindex(&profile, true);
            p.by_updated.insert(updated_key(&profile));
            p.by_id.insert(profile.id.clone(), profile);
        }
        p
    }

    /// A strictly increasing write time.
    pub fn stamp(&mut self) -> DateTime<Utc> {
        let mut now = Utc::now();
        if let Some(last) = self.last_stamp
            && now <= last
        {
            now = last + chrono::Duration::microseconds(1);
        }
        self.last_stamp = Some(now);
        now
    }

    fn reindex(&mut self, p: &Profile, add: bool) {
        for k in IDENTIFIERS {
            if let Some(v) = p.fields.get(*k) {
                let key = (*k, norm(k, v));
                if add {
                    // Seeded duplicates keep the first profile as the owner.
                    self.index.entry(key).or_insert_with(|| p.id.clone());
                } else if self.index.get(&key) == Some(&p.id) {
                    self.index.remove(&key);
                }
            }
        }
    }

    /// A profile by id.
    pub fn get(&self, id: &str) -> Option<&Profile> {
        self.by_id.get(id)
    }

    /// All profiles in id order.
    pub fn all(&self) -> impl Iterator<Item = &Profile> {
        self.by_id.values()
    }

    /// Profiles with an id strictly greater than `after`, in id order (the
    /// default listing order, walked without sorting everything per page).
    pub fn after_id<'a>(&'a self, after: &str) -> impl Iterator<Item = &'a Profile> + 'a {
        use std::ops::Bound;
        self.by_id
            .range::<str, _>((Bound::Excluded(after), Bound::Unbounded))
            .map(|(_, p)| p)
    }

    /// Profiles whose (updated, id) comes strictly after `after` (from the start
    /// when `None`), in that order: the listing sorted by `updated`.
    pub fn after_updated<'a>(
        &'a self,
        after: Option<(i64, &str)>,
    ) -> impl Iterator<Item = &'a Profile> + 'a {
        use std::ops::Bound;
        let from = match after {
            Some((micros, id)) => Bound::Excluded((micros, id.to_string())),
            None => Bound::Unbounded,
        };
        self.by_updated
            .range((from, Bound::Unbounded))
            .filter_map(|(_, id)| self.by_id.get(id))
    }

    /// Number of profiles.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when there are no profiles.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Finds the profile a write addresses: by `id`, else by the first identifier
    /// that matches. Identifiers matching different profiles → 409.
    pub fn resolve(&self, w: &ProfileWrite) -> Result<Option<String>, ApiError> {
        if let Some(id) = &w.id {
            return match self.by_id.contains_key(id) {
                true => Ok(Some(id.clone())),
                false => Err(ApiError::not_found(format!(
                    "A profile with id {id} does not exist."
                ))),
            };
        }
        let mut found: Option<&String> = None;
        for key in w.identifiers() {
            if let Some(owner) = self.index.get(&key) {
                match found {
                    None => found = Some(owner),
                    Some(f) if f != owner => return Err(ApiError::duplicate_profile(owner)),
                    Some(_) => {}
                }
            }
        }
        Ok(found.cloned())
    }

    /// Creates or updates the profile a write addresses; returns its id and
    /// whether it was created.
    pub fn upsert(&mut self, w: &ProfileWrite) -> Result<(String, bool), ApiError> {
        let target = self.resolve(w)?;
        // An identifier being set must not belong to another profile.
        for key in w.identifiers() {
            if let Some(owner) = self.index.get(&key)
                && Some(owner) != target.as_ref()
            {
                return Err(ApiError::duplicate_profile(owner));
            }
        }
        let now = self.stamp();
        let (mut p, created) = match target.and_then(|id| self.by_id.remove(&id)) {
            Some(p) => (p, false),
            None => (
                Profile {
                    id: new_id(),
                    fields: BTreeMap::new(),
                    location: Map::new(),
                    properties: Map::new(),
                    created: now,
                    updated: now,
                    last_event_date: None,
                },
                true,
            ),
        };
        self.reindex(&p, false);
        self.by_updated.remove(&updated_key(&p));
        for (k, c) in &w.fields {
            match c {
                Change::Set(Value::String(v)) => {
                    p.fields.insert(k.clone(), v.clone());
                }
                _ => {
                    p.fields.remove(k);
                }
            }
        }
        apply_map(&mut p.location, &w.location);
        apply_map(&mut p.properties, &w.properties);
        p.updated = now;
        self.reindex(&p, true);
        self.by_updated.insert(updated_key(&p));
        let id = p.id.clone();
        self.by_id.insert(id.clone(), p);
        Ok((id, created))
    }

    /// Records an event time on a profile.
    pub fn touch_event(&mut self, id: &str, at: DateTime<Utc>) {
        if let Some(p) = self.by_id.get_mut(id)
            && p.last_event_date.is_none_or(|t| t < at)
        {
            p.last_event_date = Some(at);
        }
    }
}

/// A profile's place in [`Profiles::after_updated`]: clamped at 0 as the listing's
/// sort keys and cursors are.
fn updated_key(p: &Profile) -> (i64, String) {
    (p.updated.timestamp_micros().max(0), p.id.clone())
}

fn apply_map(target: &mut Map<String, Value>, changes: &BTreeMap<String, Change>) {
    for (k, c) in changes {
        match c {
            Change::Set(v) => {
                target.insert(k.clone(), v.clone());
            }
            Change::Clear => {
                target.remove(k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_26_crockford_chars() {
        let id = new_id();
        assert_eq!(id.len(), 26);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }

    #[test]
    fn phone_numbers_must_be_e164() {
        assert!(valid_phone("+12345678901"));
        assert!(!valid_phone("12345678901"));
        assert!(!valid_phone("+1 234"));
    }
}
