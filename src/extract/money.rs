//! Money amounts as the platforms send them (decimal text such as `"344.48"`),
//! read exactly into integer units of 10^-[`MONEY_SCALE`] for the landed
//! `Decimal128` columns: a digit that would be dropped is an error, never rounded.

use super::columns::MONEY_SCALE;

/// Parse a decimal text into units of 10^-MONEY_SCALE, refusing to drop digits.
pub fn parse_money(text: &str) -> Option<i128> {
    // Every amount of a bulk backfill passes here (a dozen per order), nearly all
    // short plain decimals such as "344.48": those are read in one pass over the
    // bytes, in integer arithmetic that cannot overflow at this length.
    if text.len() <= 16
        && let Some(units) = parse_short_money(text.as_bytes())
    {
        return Some(units);
    }
    parse_money_general(text)
}

/// `[+-]digits[.digits]` of at most 16 bytes (so that, scaled, it fits a `u64`), no
/// whitespace; `None` for anything else, which the general parser then decides on.
fn parse_short_money(b: &[u8]) -> Option<i128> {
    let scale = MONEY_SCALE as usize;
    let (neg, mut i) = match b.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let mut units: u64 = 0;
    let mut digits = 0;
    while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
        units = units * 10 + u64::from(d - b'0');
        digits += 1;
        i += 1;
    }
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            if frac >= scale {
                // Digits past the scale may only be zeros (nothing is dropped).
                if *d != b'0' {
                    return None;
                }
            } else {
                units = units * 10 + u64::from(d - b'0');
            }
            frac += 1;
            digits += 1;
            i += 1;
        }
    }
    if i != b.len() || digits == 0 {
        return None;
    }
    for _ in frac.min(scale)..scale {
        units *= 10;
    }
    let units = i128::from(units);
    Some(if neg { -units } else { units })
}

fn parse_money_general(text: &str) -> Option<i128> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let scale = MONEY_SCALE as usize;
    let (kept, dropped) = frac.split_at(frac.len().min(scale));
    if dropped.chars().any(|c| c != '0') {
        return None;
    }
    let mut units: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    for i in 0..scale {
        let digit = kept.as_bytes().get(i).map_or(0, |b| i128::from(b - b'0'));
        units = units.checked_mul(10)?.checked_add(digit)?;
    }
    Some(if neg { -units } else { units })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_parsing_is_exact() {
        assert_eq!(parse_money("0.1"), Some(10));
        assert_eq!(parse_money("12"), Some(1200));
        assert_eq!(parse_money("-0.05"), Some(-5));
        assert_eq!(parse_money("1.230"), Some(123));
        assert_eq!(parse_money("1.234"), None, "would lose a digit");
        assert_eq!(parse_money("abc"), None);
        assert_eq!(parse_money(""), None);
        assert_eq!(
            parse_money(" 1.5 "),
            Some(150),
            "whitespace is the general path's"
        );
        assert_eq!(parse_money("1."), Some(100));
        assert_eq!(parse_money(".5"), Some(50));
        assert_eq!(parse_money("+2.50"), Some(250));
        assert_eq!(parse_money("-"), None);
        assert_eq!(parse_money("."), None);
        assert_eq!(parse_money("1.2.3"), None);
        assert_eq!(parse_money("+-1"), None);
        assert_eq!(parse_money("1e3"), None);
        assert_eq!(
            parse_money("9999999999999999"),
            Some(999_999_999_999_999_900)
        );
        assert_eq!(
            parse_money("99999999999999.99"),
            Some(9_999_999_999_999_999)
        );
        assert_eq!(
            parse_money("123456789012345678901.5"),
            Some(12_345_678_901_234_567_890_150),
            "long amounts take the general path"
        );
        // The short path agrees with the general one wherever both answer.
        for text in [
            "0",
            "0.0",
            "10.0",
            "344.48",
            "-0.05",
            "1.230",
            "1.234",
            "007.10",
            "+0",
            "-12",
            "1.000000000000",
            "1.000000000001",
            "5.",
            "-.25",
            "",
            "a",
            "1a",
            "-+1",
        ] {
            assert_eq!(
                parse_short_money(text.as_bytes()).or_else(|| parse_money_general(text)),
                parse_money_general(text),
                "{text:?}"
            );
        }
    }
}
