//! A sync as the diff and sink engines see it: which model, which key, which fields
//! in a fixed order, which behaviour. Built from `[syncs.<name>]`; knows no platform.

use crate::config::{OnDelete, SyncConfig, SyncMode};

/// One mapped field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// Destination field (property) name.
    pub field: String,
    /// Model column it comes from.
    pub column: String,
}

/// Sync behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create new keys, update changed ones.
    UpdateOrCreate,
    /// Update records (new keys are sent as updates and rejected by the destination
    /// when the record does not exist there).
    UpdateOnly,
    /// Create new keys only; changes to existing ones are not sent.
    CreateOnly,
    /// Like update-or-create, and rows that left the model are deleted (or their
    /// synced fields cleared when `clear`).
    Mirror {
        /// Clear fields instead of deleting the record.
        clear: bool,
    },
}

/// A sync definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSpec {
    /// The sync's name (names its warehouse tables).
    pub name: String,
    /// The model (`models.<model>`).
    pub model: String,
    /// Object at the destination (`contacts`, `profiles`, `events`).
    pub object: String,
    /// Model column holding the key.
    pub key_column: String,
    /// Destination property the key is matched against.
    pub key_field: String,
    /// Mapped fields, sorted by destination field name.
    pub fields: Vec<Mapped>,
    /// Behaviour.
    pub mode: Mode,
}

impl SyncSpec {
    /// Build from `[syncs.<name>]`.
    pub fn from_config(name: &str, cfg: &SyncConfig) -> SyncSpec {
        let mode = match cfg.mode {
            SyncMode::UpdateOrCreate => Mode::UpdateOrCreate,
            SyncMode::UpdateOnly => Mode::UpdateOnly,
            SyncMode::CreateOnly => Mode::CreateOnly,
            SyncMode::Mirror => Mode::Mirror {
                clear: cfg.on_delete.as_ref().map(|d| *d.get_ref()) == Some(OnDelete::Clear),
            },
        };
        SyncSpec {
            name: name.to_string(),
            model: cfg.model.clone(),
            object: cfg.object.clone(),
            key_column: cfg.key.model.clone(),
            key_field: cfg.key.destination.clone(),
            // BTreeMap iteration is sorted: the field order is stable across runs.
            fields: cfg
                .fields
                .iter()
                .map(|(field, column)| Mapped {
                    field: field.clone(),
                    column: column.get_ref().clone(),
                })
                .collect(),
            mode,
        }
    }

    /// Destination field names in order.
    pub fn field_names(&self) -> Vec<String> {
        self.fields.iter().map(|m| m.field.clone()).collect()
    }
}
