//! Klaviyo emulator (in progress).
