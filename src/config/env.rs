//! `${VAR}` references in lockstep.toml. Values are expanded while the file is
//! deserialized, so a missing variable is reported at the line of the value that
//! needs it. Secrets keep their expanded value out of `Debug` and logs.

use std::fmt;

use serde::{Deserialize, Deserializer, de::Error as _};

/// Expand every `${NAME}` in `raw` from the process environment.
pub fn expand(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("unterminated `${{` in {raw:?}"));
        };
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid environment variable name {name:?}"));
        }
        match std::env::var(name) {
            Ok(value) => out.push_str(&value),
            Err(_) => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A plain string value in which `${VAR}` references are expanded.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvString(pub String);

impl fmt::Debug for EnvString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<'de> Deserialize<'de> for EnvString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        expand(&raw).map(EnvString).map_err(D::Error::custom)
    }
}

/// A credential. It must be written as a `${VAR}` reference (never a literal in the
/// file, which tends to end up in version control), and it never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    /// The variable it came from, for messages ("HUBSPOT_TOKEN was rejected").
    pub var: String,
}

impl Secret {
    /// The secret value, for building an Authorization header. Never log it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// A secret built in code (tests, the sandbox demo).
    pub fn from_value(var: &str, value: &str) -> Self {
        Secret {
            value: value.to_owned(),
            var: var.to_owned(),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(${{{}}})", self.var)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let var = raw
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix('}'))
            .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| {
                D::Error::custom(
                    "credentials must be an environment reference like \"${HUBSPOT_TOKEN}\", not a literal",
                )
            })?;
        let value = std::env::var(var)
            .map_err(|_| D::Error::custom(format!("environment variable {var} is not set")))?;
        Ok(Secret {
            value,
            var: var.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_reports_missing() {
        // PATH is set in every test environment.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            expand("a${PATH}b").as_deref(),
            Ok(format!("a{path}b").as_str())
        );
        assert_eq!(expand("plain").as_deref(), Ok("plain"));
        let err = expand("${LOCKSTEP_SURELY_UNSET_VAR_1}").unwrap_err();
        assert!(err.contains("LOCKSTEP_SURELY_UNSET_VAR_1"), "{err}");
        assert!(expand("${oops").is_err());
    }

    #[test]
    fn secret_debug_hides_value() {
        let s = Secret::from_value("TOKEN", "hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
