//! Schedules: cron expressions for recurring runs. Analytics engineers write standard
//! 5-field crontab (`0 3 * * *`) or `@daily`; the `cron` crate wants seconds first, so
//! 5-field input is normalized here rather than surprising users.

use std::str::FromStr;

/// A cron expression that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid cron expression {expr:?}: {reason}")]
pub struct CronError {
    expr: String,
    reason: String,
}

/// Parse a cron expression: 5 fields (minute first), 6 or 7 fields (seconds first), or
/// a shorthand such as `@daily`.
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, CronError> {
    let trimmed = expr.trim();
    let fields = trimmed.split_whitespace().count();
    let normalized = if !trimmed.starts_with('@') && fields == 5 {
        format!("0 {trimmed}")
    } else {
        trimmed.to_string()
    };
    cron::Schedule::from_str(&normalized).map_err(|e| CronError {
        expr: expr.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_crontab_means_minute_first() {
        let s = parse_cron("30 3 * * *").unwrap();
        let after = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let next = s.after(&after).next().unwrap();
        assert_eq!(next.to_rfc3339(), "2026-01-01T03:30:00+00:00");
    }

    #[test]
    fn shorthand_and_seconds_forms_parse_and_garbage_fails() {
        assert!(parse_cron("@daily").is_ok());
        assert!(parse_cron("0 0 3 * * *").is_ok());
        let err = parse_cron("every tuesday").unwrap_err().to_string();
        assert!(err.contains("every tuesday"), "{err}");
    }
}
