//! Project configuration (lockstep.toml).
