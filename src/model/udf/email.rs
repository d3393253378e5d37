//! `canonical_email(text)`: the email form identity resolution joins on. Trimmed and
//! lower-cased; a `+tag` suffix of the local part removed (every provider that
//! supports sub-addressing ignores it for delivery); for Gmail, dots in the local
//! part removed and `googlemail.com` unified to `gmail.com` (Gmail ignores dots and
//! serves both domains). Anything that is not `local@domain.tld` after that — NULL,
//! empty, several `@`, spaces inside, no dot in the domain — is NULL, so an invalid
//! address never links two people.

use std::sync::Arc;

use arrow::array::{Array, StringArray, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The canonical form of one address, or `None` if it is not a usable address.
pub fn canonical_email(raw: &str) -> Option<String> {
    let mut out = String::new();
    write_canonical(&raw.trim().to_lowercase(), &mut out).then_some(out)
}

/// Append the canonical form of an address already trimmed and lower-cased to
/// `out`; false (and `out` possibly partly written) if it is not a usable address.
/// Writing into the caller's buffer lets the UDF run over millions of rows without
/// allocating a string per row.
fn write_canonical(lowered: &str, out: &mut String) -> bool {
    if lowered.is_empty() || lowered.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((local, domain)) = lowered.split_once('@') else {
        return false;
    };
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if !domain_ok {
        return false;
    }
    let local = local.split('+').next().unwrap_or_default();
    let start = out.len();
    let domain = match domain {
        "gmail.com" | "googlemail.com" => {
            out.extend(local.chars().filter(|c| *c != '.'));
            "gmail.com"
        }
        _ => {
            out.push_str(local);
            domain
        }
    };
    if out.len() == start {
        return false;
    }
    out.push('@');
    out.push_str(domain);
    true
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
        Ok(ColumnarValue::Array(Arc::new(canonical_column(&input))))
    }
}

/// [`canonical_email`] of every value of `input` (NULL where it gives `None`).
fn canonical_column(input: &StringArray) -> StringArray {
    let mut out = StringBuilder::with_capacity(input.len(), input.value_data().len());
    // Two buffers reused across the batch: the trimmed, lower-cased input (ASCII,
    // nearly every address, lowers in place) and the canonical form.
    let (mut lowered, mut canonical) = (String::new(), String::new());
    for value in input.iter() {
        let Some(raw) = value else {
            out.append_null();
            continue;
        };
        let trimmed = raw.trim();
        lowered.clear();
        if trimmed.is_ascii() {
            lowered.push_str(trimmed);
            lowered.make_ascii_lowercase();
        } else {
            lowered.push_str(&trimmed.to_lowercase());
        }
        canonical.clear();
        if write_canonical(&lowered, &mut canonical) {
            out.append_value(&canonical);
        } else {
            out.append_null();
        }
    }
    out.finish()
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

    #[test]
    fn the_column_form_matches_the_single_value_form() {
        // ASCII and non-ASCII (lower-cased the Unicode way, NBSP trimmed), NULLs and
        // rejects between accepted values, so a reused buffer cannot leak into the next.
        let values = [
            Some("J.a.n.e+promo@GMAIL.com"),
            None,
            Some("bad@"),
            Some("Bob@Example.com"),
            Some("\u{a0}ÉMILE@Exämple.FR "),
            Some(".@gmail.com"),
            Some("ünï@x.io"),
            Some(""),
        ];
        let input: StringArray = values.iter().copied().collect();
        let out = canonical_column(&input);
        assert_eq!(out.len(), values.len());
        for (i, raw) in values.iter().enumerate() {
            let want = raw.and_then(canonical_email);
            let got = out.is_valid(i).then(|| out.value(i).to_string());
            assert_eq!(got, want, "{raw:?}");
        }
        assert_eq!(out.value(4), "émile@exämple.fr");
        assert!(out.is_null(5));
    }
}
