//! Contact storage: records, ids, the unique-value indexes behind `idProperty`
//! lookups, and the create/update primitives every endpoint is built from.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::errors::ApiError;
use super::properties::{Schema, fmt_datetime, normalise_email, parse_datetime};
use crate::sandbox::seed::SeedContact;

/// Properties HubSpot returns when a list or read names none.
pub const DEFAULT_READ_PROPS: &[&str] = &[
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
];

/// Properties HubSpot always adds to whatever was asked for.
pub const ALWAYS_PROPS: &[&str] = &["createdate", "hs_object_id", "lastmodifieddate"];

/// One stored contact.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// Record id (`hs_object_id`).
    pub id: u64,
    /// Set properties (never empty strings; clearing removes the key).
    pub properties: BTreeMap<String, String>,
    /// `createdate`.
    pub created_at: DateTime<Utc>,
    /// `lastmodifieddate`.
    pub updated_at: DateTime<Utc>,
    /// Archived (deleted) contacts are hidden from reads.
    pub archived_at: Option<DateTime<Utc>>,
}

impl Contact {
    /// A property value including the computed ones.
    pub fn value(&self, name: &str) -> Option<String> {
        match name {
            "hs_object_id" => Some(self.id.to_string()),
            "createdate" => Some(fmt_datetime(self.created_at)),
            "lastmodifieddate" => Some(fmt_datetime(self.updated_at)),
            _ => self.properties.get(name).cloned(),
        }
    }

    /// The `SimplePublicObject` JSON with the requested properties (unset ones as
    /// null, as HubSpot does).
    pub fn to_json(&self, props: &[String]) -> Value {
        let mut out = serde_json::Map::new();
        for p in props
            .iter()
            .map(String::as_str)
            .chain(ALWAYS_PROPS.iter().copied())
        {
            out.insert(
                p.to_string(),
                self.value(p).map_or(Value::Null, Value::String),
            );
        }
        let mut v = json!({
            "id": self.id.to_string(),
            "properties": out,
            "createdAt": fmt_datetime(self.created_at),
            "updatedAt": fmt_datetime(self.updated_at),
            "archived": self.archived_at.is_some(),
        });
        if let Some(at) = self.archived_at {
            v["archivedAt"] = json!(fmt_datetime(at));
        }
        v
    }

    /// Every property, for inspection.
    pub fn to_full_json(&self) -> Value {
        let names: Vec<String> = self.properties.keys().cloned().collect();
        self.to_json(&names)
    }
}

/// All contacts and the property schema.
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// Property definitions.
    pub schema: Schema,
    contacts: BTreeMap<u64, Contact>,
    /// (unique property, normalised value) → contact id.
    unique: HashMap<(String, String), u64>,
    next_id: u64,
    last_stamp: Option<DateTime<Utc>>,
}

impl Store {
    /// A store holding the seed contacts, with ids from 1 (or their `hs_object_id`).
    pub fn from_seed(seed: &[SeedContact]) -> Self {
        let mut store = Self {
            next_id: 1,
            ..Self::default()
        };
        for s in seed {
            store.insert_seed(s);
        }
        store
    }

    fn insert_seed(&mut self, seed: &SeedContact) {
        let now = Utc::now();
        let parse_time = |k: &str| seed.properties.get(k).and_then(|v| parse_datetime(v));
        let created_at = parse_time("createdate").unwrap_or(now);
        let updated_at = parse_time("lastmodifieddate").unwrap_or(created_at);
        let id = seed
            .properties
            .get("hs_object_id")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|id| !self.contacts.contains_key(id))
            .unwrap_or(self.next_id);
        self.next_id = self.next_id.max(id + 1);
        let mut properties = BTreeMap::new();
        for (k, v) in &seed.properties {
            if matches!(
                k.as_str(),
                "hs_object_id" | "createdate" | "lastmodifieddate"
            ) || v.is_empty()
            {
                continue;
            }
            self.schema.ensure_string(k);
            let v = if k == "email" {
                v.trim().to_ascii_lowercase()
            } else {
                v.clone()
            };
            properties.insert(k.clone(), v);
        }
        let contact = Contact {
            id,
            properties,
            created_at,
            updated_at,
            archived_at: None,
        };
        // Seeds may carry duplicate emails on purpose (drift); the first one owns
        // the unique slot, as in a CRM that was fed before the rule existed.
        self.index(&contact, false);
        self.contacts.insert(id, contact);
    }

    /// A strictly increasing modification time, so `lastmodifieddate` filters and
    /// cursors see every write as distinct.
    pub fn stamp(&mut self) -> DateTime<Utc> {
        let mut now = Utc::now();
        if let Some(last) = self.last_stamp
            && now <= last
        {
            now = last + chrono::Duration::milliseconds(1);
        }
        self.last_stamp = Some(now);
        now
    }

    /// The index key of a unique property value (emails compare case-insensitively).
    pub fn unique_key(&self, prop: &str, value: &str) -> (String, String) {
        let v = if prop == "email" {
            normalise_email(value).unwrap_or_else(|| value.to_ascii_lowercase())
        } else {
            value.to_string()
        };
        (prop.to_string(), v)
    }

    fn index(&mut self, c: &Contact, overwrite: bool) {
        for (k, v) in &c.properties {
            if self.schema.get(k).is_some_and(|d| d.unique) {
                let key = self.unique_key(k, v);
                if overwrite {
                    self.unique.insert(key, c.id);
                } else {
                    self.unique.entry(key).or_insert(c.id);
                }
            }
        }
    }

    fn unindex(&mut self, c: &Contact) {
        for (k, v) in &c.properties {
            let key = self.unique_key(k, v);
            if self.unique.get(&key) == Some(&c.id) {
                self.unique.remove(&key);
            }
        }
    }

    /// A live (not archived) contact by record id.
    pub fn get(&self, id: u64) -> Option<&Contact> {
        self.contacts.get(&id).filter(|c| c.archived_at.is_none())
    }

    /// Live contacts in id order, from `from_id` on.
    pub fn iter_from(&self, from_id: u64) -> impl Iterator<Item = &Contact> {
        self.contacts
            .range(from_id..)
            .map(|(_, c)| c)
            .filter(|c| c.archived_at.is_none())
    }

    /// All contacts, archived included.
    pub fn all(&self) -> impl Iterator<Item = &Contact> {
        self.contacts.values()
    }

    /// Resolves `(idProperty, id)` to a live contact id. `None`/`hs_object_id` means
    /// the record id; any other property must exist and be unique.
    pub fn resolve(&self, id_property: Option<&str>, id: &str) -> Result<Option<u64>, ApiError> {
        match id_property {
            None | Some("hs_object_id") => Ok(id
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| self.get(*n).is_some())),
            Some(prop) => {
                let def = self.schema.get(prop).ok_or_else(|| {
                    ApiError::validation(format!("Property \"{prop}\" does not exist"))
                })?;
                if !def.unique {
                    return Err(ApiError::validation(format!(
                        "{prop} is not a unique identifier property; use a property with unique values as idProperty"
                    )));
                }
                let key = self.unique_key(prop, id);
                Ok(self
                    .unique
                    .get(&key)
                    .copied()
                    .filter(|n| self.get(*n).is_some()))
            }
        }
    }

    /// The contact (other than `except`) already holding one of the unique values
    /// in `props`, with the property that collides.
    pub fn unique_conflict(
        &self,
        props: &BTreeMap<String, String>,
        except: Option<u64>,
    ) -> Option<(String, u64)> {
        props.iter().find_map(|(k, v)| {
            if v.is_empty() || !self.schema.get(k).is_some_and(|d| d.unique) {
                return None;
            }
            let owner = *self.unique.get(&self.unique_key(k, v))?;
            (Some(owner) != except && self.get(owner).is_some()).then(|| (k.clone(), owner))
        })
    }

    /// Creates a contact from validated properties.
    pub fn create(&mut self, props: BTreeMap<String, String>) -> u64 {
        let now = self.stamp();
        let id = self.next_id;
        self.next_id += 1;
        let contact = Contact {
            id,
            properties: props.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            created_at: now,
            updated_at: now,
            archived_at: None,
        };
        self.index(&contact, true);
        self.contacts.insert(id, contact);
        id
    }

    /// Applies validated properties to a contact (`""` clears); returns the names
    /// whose value actually changed. The modification time moves on any write, as
    /// HubSpot bumps `lastmodifieddate` even for a no-op update.
    pub fn update(&mut self, id: u64, props: &BTreeMap<String, String>) -> Vec<String> {
        let now = self.stamp();
        let Some(mut contact) = self.contacts.remove(&id) else {
            return Vec::new();
        };
        self.unindex(&contact);
        let mut changed = Vec::new();
        for (k, v) in props {
            let old = contact.properties.get(k);
            if old.map(String::as_str).unwrap_or("") != v {
                changed.push(k.clone());
            }
            if v.is_empty() {
                contact.properties.remove(k);
            } else {
                contact.properties.insert(k.clone(), v.clone());
            }
        }
        contact.updated_at = now;
        self.index(&contact, true);
        self.contacts.insert(id, contact);
        changed
    }

    /// Archives a contact; unknown ids are ignored, as HubSpot's archive does.
    pub fn archive(&mut self, id: u64) {
        let now = self.stamp();
        if let Some(c) = self.contacts.get(&id).cloned()
            && c.archived_at.is_none()
        {
            self.unindex(&c);
            if let Some(c) = self.contacts.get_mut(&id) {
                c.archived_at = Some(now);
                c.updated_at = now;
            }
        }
    }

    /// A live contact's JSON, for responses.
    pub fn contact_json(&self, id: u64, props: &[String]) -> Value {
        self.contacts
            .get(&id)
            .map_or(Value::Null, |c| c.to_json(props))
    }
}
