//! Project settings as SQL functions, so models follow lockstep.toml instead of
//! repeating it: `reporting_currency()` is `[project] reporting_currency`, and
//! `source_priority(source)` is a source's 1-based rank in `[project]
//! source_priority` (sources not listed rank after all listed ones), for
//! survivorship: `ORDER BY source_priority(source), updated_at DESC`.

use std::sync::Arc;

use arrow::array::Int32Array;
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The settings models can read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Settings {
    /// ISO 4217 code all money is normalized to.
    pub reporting_currency: String,
    /// Sources in survivorship order, first wins.
    pub source_priority: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            reporting_currency: "USD".into(),
            source_priority: Vec::new(),
        }
    }
}

impl Settings {
    /// The settings of a loaded project.
    pub fn of(project: &crate::config::Project) -> Settings {
        Settings {
            reporting_currency: project.config.project.reporting_currency.get_ref().clone(),
            source_priority: project.config.project.source_priority.clone(),
        }
    }

    /// 1-based rank of `source`; unlisted sources rank last (tied).
    pub fn rank(&self, source: &str) -> i32 {
        self.source_priority
            .iter()
            .position(|s| s.eq_ignore_ascii_case(source))
            .unwrap_or(self.source_priority.len()) as i32
            + 1
    }
}

/// `reporting_currency()`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ReportingCurrency {
    signature: Signature,
    currency: String,
}

impl ReportingCurrency {
    /// The function for `settings`.
    pub fn new(settings: &Settings) -> Self {
        ReportingCurrency {
            signature: Signature::nullary(Volatility::Immutable),
            currency: settings.reporting_currency.clone(),
        }
    }
}

impl ScalarUDFImpl for ReportingCurrency {
    fn name(&self) -> &str {
        "reporting_currency"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            self.currency.clone(),
        ))))
    }
}

/// `source_priority(source)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SourcePriority {
    signature: Signature,
    settings: Settings,
}

impl SourcePriority {
    /// The function for `settings`.
    pub fn new(settings: &Settings) -> Self {
        SourcePriority {
            signature: Signature::string(1, Volatility::Immutable),
            settings: settings.clone(),
        }
    }
}

impl ScalarUDFImpl for SourcePriority {
    fn name(&self) -> &str {
        "source_priority"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let sources = super::utf8_arg(&args.args, 0, args.number_rows)?;
        let ranks: Int32Array = sources
            .iter()
            .map(|s| Some(self.settings.rank(s.unwrap_or_default())))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(ranks)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_the_configured_order() {
        let s = Settings {
            reporting_currency: "EUR".into(),
            source_priority: vec!["shopify".into(), "hubspot".into()],
        };
        assert_eq!(s.rank("shopify"), 1);
        assert_eq!(s.rank("HubSpot"), 2);
        assert_eq!(s.rank("klaviyo"), 3);
        assert_eq!(s.rank(""), 3);
    }
}
