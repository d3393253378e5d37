//! Tests of the SQL model engine (filled in by its owner).
