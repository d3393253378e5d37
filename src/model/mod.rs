//! The SQL model engine (see issue 5).
