//! The value types of the sandbox's Shopify store: timestamps as Unix seconds with
//! their renderings and parsing, ISO-4217 currency codes, and money in minor units
//! with the decimal text Shopify's APIs use.

use chrono::{FixedOffset, TimeZone};

/// Unix seconds, UTC.
pub type Ts = i64;

/// The shop's UTC offset in seconds (rendering only; filters accept any offset).
pub const SHOP_UTC_OFFSET_SECS: i32 = -5 * 3600;

/// Render a timestamp like Shopify does: ISO-8601 with the shop's offset.
pub fn fmt_ts(ts: Ts) -> String {
    let Some(tz) = FixedOffset::east_opt(SHOP_UTC_OFFSET_SECS) else {
        return ts.to_string();
    };
    match tz.timestamp_opt(ts, 0).single() {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        None => ts.to_string(),
    }
}

/// Render a timestamp in UTC with a `Z` suffix, as GraphQL `DateTime` does.
pub fn fmt_ts_utc(ts: Ts) -> String {
    match chrono::Utc.timestamp_opt(ts, 0).single() {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => ts.to_string(),
    }
}

/// Parse an ISO-8601 timestamp with offset (or a bare date, taken as UTC midnight).
pub fn parse_ts(s: &str) -> Option<Ts> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Some(t.and_utc().timestamp());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
    }
    None
}

/// An ISO-4217 code, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");
    pub const GBP: Currency = Currency(*b"GBP");
    pub const CAD: Currency = Currency(*b"CAD");
    pub const AUD: Currency = Currency(*b"AUD");

    /// Parse a three-letter code (upper-cased).
    pub fn parse(s: &str) -> Option<Currency> {
        let b = s.trim().as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        Some(Currency([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }

    pub fn code(&self) -> &str {
        // Written for every money value of a bulk export: the checked conversion
        // showed in its profile.
        // SAFETY: a Currency is only built by `parse` (ASCII letters) and the
        // constants above, and ASCII is valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

/// An amount in minor units (cents).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, PartialOrd, Ord)]
pub struct Money(pub i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// Parse a decimal string or number text ("12.3", "-5.00", "7").
    pub fn parse(s: &str) -> Option<Money> {
        let s = s.trim();
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let int: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut f = frac.bytes().take(3).collect::<Vec<_>>();
        if !f.iter().all(u8::is_ascii_digit) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        f.resize(3, b'0');
        let milli = (f[0] - b'0') as i64 * 100 + (f[1] - b'0') as i64 * 10 + (f[2] - b'0') as i64;
        // Round half away from zero to cents.
        let cents = int.checked_mul(100)?.checked_add((milli + 5) / 10)?;
        Some(Money(if neg { -cents } else { cents }))
    }

    /// The amount as Shopify's REST order money strings show it: "12.30".
    pub fn to_decimal(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", a / 100, a % 100)
    }

    /// The amount as a JSON number (refund line items carry numbers, not strings).
    pub fn to_number(self) -> serde_json::Value {
        serde_json::Number::from_f64(self.0 as f64 / 100.0)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }

    /// Convert with a rate given in parts per million, rounding half away from zero.
    pub fn convert(self, rate_ppm: u32) -> Money {
        let v = self.0 as i128 * rate_ppm as i128;
        let r = if v >= 0 {
            (v + 500_000) / 1_000_000
        } else {
            (v - 500_000) / 1_000_000
        };
        Money(r as i64)
    }

    /// `self * num / den`, rounded half away from zero.
    pub fn scale(self, num: i64, den: i64) -> Money {
        if den == 0 {
            return Money::ZERO;
        }
        let v = self.0 as i128 * num as i128;
        let d = den as i128;
        let r = if v >= 0 {
            (v + d / 2) / d
        } else {
            (v - d / 2) / d
        };
        Money(r as i64)
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, o: Money) -> Money {
        // Saturating: loaded files may hold absurd amounts; never panic on them.
        Money(self.0.saturating_add(o.0))
    }
}
impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, o: Money) -> Money {
        Money(self.0.saturating_sub(o.0))
    }
}
impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, o: Money) {
        self.0 = self.0.saturating_add(o.0);
    }
}
impl std::ops::SubAssign for Money {
    fn sub_assign(&mut self, o: Money) {
        self.0 = self.0.saturating_sub(o.0);
    }
}
impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(it: I) -> Money {
        Money(it.fold(0i64, |a, m| a.saturating_add(m.0)))
    }
}
