//! Library error types.
