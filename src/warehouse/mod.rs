//! The warehouse: Delta Lake tables on object_store.
