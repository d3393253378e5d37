//! `canonical_email(text)`: the email form identity resolution joins on. Trimmed and
//! lower-cased; a `+tag` suffix of the local part removed (every provider that
//! supports sub-addressing ignores it for delivery); for Gmail, dots in the local
//! part removed and `googlemail.com` unified to `gmail.com` (Gmail ignores dots and
//! serves both domains). Anything that is not `local@domain.tld` after that — NULL,
//! empty, several `@`, spaces inside, no dot in the domain — is NULL, so an invalid
//! address never links two people.

use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The canonical form of one address, or `None` if it is not a usable address.
pub fn canonical_email(raw: &str) -> Option<String> {
    let lowered = raw.trim().to_lowercase();
    if lowered.is_empty() || lowered.chars().any(char::is_whitespace) {
        return None;
    }
    let (local, domain) = lowered.split_once('@')?;
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if !domain_ok {
        return None;
    }
    let local = local.split('+').next().unwrap_or_default();
    let (local, domain) = match domain {
        "gmail.com" | "googlemail.com" => (local.replace('.', ""), "gmail.com"),
        _ => (local.to_string(), domain),
    };
    if local.is_empty() {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

/// The `canonical_email` scalar UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CanonicalEmail {
    signature: Signature,
}

impl CanonicalEmail {
    /// A new instance.
    pub fn new() -> Self {
        CanonicalEmail {
            signature: Signature::string(1, Volatility::Immutable),
        }
    }
}

impl Default for CanonicalEmail {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for CanonicalEmail {
    fn name(&self) -> &str {
        "canonical_email"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = super::utf8_arg(&args.args, 0, args.number_rows)?;
        let out: StringArray = input.iter().map(|v| v.and_then(canonical_email)).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let cases = [
            ("Jane.Doe@Example.com", Some("jane.doe@example.com")),
            ("  jane@example.com \t", Some("jane@example.com")),
            ("jane+shop@example.com", Some("jane@example.com")),
            ("J.a.n.e+promo@gmail.com", Some("jane@gmail.com")),
            ("jane.doe@GoogleMail.com", Some("janedoe@gmail.com")),
            (
                "abc123@privaterelay.appleid.com",
                Some("abc123@privaterelay.appleid.com"),
            ),
            ("", None),
            ("   ", None),
            ("no-at-sign", None),
            ("a@b@c.com", None),
            ("jane doe@example.com", None),
            ("jane@localhost", None),
            ("+tag@example.com", None),
            ("@example.com", None),
            ("jane@example..com", None),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical_email(raw).as_deref(), want, "{raw:?}");
        }
    }
}
