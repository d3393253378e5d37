//! Tests of the sandbox emulator (filled in by its owner).
