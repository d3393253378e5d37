//! The fast path of `e164` for numbers already written in E.164 (`+` then digits,
//! what stores and CRMs mostly hold). It follows, step for step, what
//! `phonenumber::parse` and `PhoneNumber::is_valid` do with such a string, and
//! reads the same metadata, but matches the metadata's patterns with regexes it
//! compiles itself, once per thread ([`super::phone_patterns`], which also joins
//! them so that a number costs a handful of searches, not dozens): the crate
//! looks every pattern up by its source text in one process-wide LRU cache of 100
//! compiled regexes behind a mutex, which the NANP regions alone overflow, so it
//! recompiles patterns, hashes kilobyte-long sources and serializes threads on
//! every number (~50–180 µs a number).
//!
//! Whenever the crate would do something this path does not reproduce (an
//! international dialling prefix after the `+`, a national prefix rewritten by a
//! transform rule, a leading zero), [`parse_plus_digits`] answers `Fallback` and
//! the caller asks the crate. The unit tests compare both over many inputs.

use phonenumber::country;
use phonenumber::metadata::DATABASE;

use super::phone_patterns::{Found, Meta, Tables, with_tables};

/// What the fast path concluded about a number.
#[derive(Debug, PartialEq, Eq)]
pub enum Fast {
    /// The crate's answer: the E.164 form, or `None` (invalid / unparseable).
    Done(Option<String>),
    /// Not a case this path reproduces: ask the crate.
    Fallback,
}

/// Longest national number this path handles: below 2^56, the crate's limit for a
/// national number's value, whatever its digits.
const MAX_NATIONAL: usize = 16;

/// Parse and validate `raw` (already trimmed) as `phonenumber` would, read with
/// default region `region`, when `raw` is `+` followed by ASCII digits.
pub fn parse_plus_digits(raw: &str, region: Option<country::Id>) -> Fast {
    with_tables(|tables| parse(tables, raw, region)).unwrap_or(Fast::Fallback)
}

fn parse(tables: &Tables, raw: &str, region: Option<country::Id>) -> Fast {
    // A region the crate knows but holds no metadata for still counts as given.
    let region_meta = match region.and_then(|id| DATABASE.by_id(id.as_ref())) {
        Some(meta) => match tables.patterns(meta) {
            Some(patterns) => Some(patterns),
            // Every metadata has its patterns; should one not, the crate decides.
            None => return Fast::Fallback,
        },
        None => None,
    };
    let Some(digits) = raw.strip_prefix('+') else {
        return Fast::Fallback;
    };
    // Also what lets the patterns be compiled for ASCII only.
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Fast::Fallback;
    }
    // The crate's viability check wants three digits after the plus.
    if digits.len() < 3 {
        return Fast::Done(None);
    }
    // A country code never starts with 0 (the crate rejects it; rare, let it say so).
    if digits.starts_with('0') {
        return Fast::Fallback;
    }
    // After a plus the crate strips the region's international dialling prefix
    // when it starts the digits (`+011…` read in the US).
    if region_meta.is_some_and(|meta| meta.idd_starts(digits)) {
        return Fast::Fallback;
    }
    // The first 1-, 2- then 3-digit prefix that is a known country code.
    let Some((code, national)) = (1..=3).find_map(|len| {
        let code: u16 = digits[..len].parse().ok()?;
        tables.is_code(code).then(|| (code, &digits[len..]))
    }) else {
        return Fast::Done(None);
    };
    if national.len() < 2 {
        return Fast::Done(None);
    }
    if national.starts_with('0') || national.len() > MAX_NATIONAL {
        return Fast::Fallback;
    }
    // Both the national-prefix stripping (without a default region) and validation
    // read this metadata: look it up once.
    let found = tables.metadata_for(code, national);
    // The crate strips a national prefix using the default region's metadata (or,
    // without one, the metadata of the number's region), even after a `+`: read
    // in the US, `+49 151…` loses its `1`. Its answer is reproduced here, except
    // for regions that rewrite the number (a transform rule), which it is asked.
    let meta = match region {
        Some(_) => region_meta,
        None => found.as_ref().map(|found| found.meta),
    };
    let stripped = match meta.map(|meta| strip_national_prefix(meta, national)) {
        None | Some(Strip::Kept) => national,
        Some(Strip::To(stripped)) => stripped,
        Some(Strip::AskTheCrate) => return Fast::Fallback,
    };
    let found = if stripped == national {
        found
    } else {
        // The crate's shortest national number; it keeps a stripped number's
        // leading zeros apart, which this path does not reproduce.
        if stripped.len() < 2 {
            return Fast::Done(None);
        }
        if stripped.starts_with('0') {
            return Fast::Fallback;
        }
        tables.metadata_for(code, stripped)
    };
    let valid = found.is_some_and(|Found { meta, typed }| typed || meta.has_type(stripped));
    Fast::Done(valid.then(|| format!("+{code}{stripped}")))
}

/// What the crate's parser does to a national number with a region's national
/// prefix.
enum Strip<'a> {
    /// Nothing to strip, or what was left would be too short for the region.
    Kept,
    /// The number without its prefix.
    To(&'a str),
    /// The region rewrites numbers (a transform rule): not reproduced here.
    AskTheCrate,
}

/// `phonenumber::parse`'s prefix handling, step for step: the prefix pattern for
/// parsing (or, without one, the national prefix) is cut off the front, then the
/// national prefix once more, and the result is kept unless the region's general
/// lengths say it is too short.
fn strip_national_prefix<'a>(meta: &Meta, national: &'a str) -> Strip<'a> {
    let region = meta.meta;
    let prefix = region.national_prefix();
    let mut rest = national;
    if region.national_prefix_for_parsing().is_some() {
        if let Some(end) = meta.national_prefix_end(rest) {
            if region.national_prefix_transform_rule().is_some() {
                return Strip::AskTheCrate;
            }
            rest = &rest[end..];
        }
    } else if let Some(p) = prefix {
        rest = rest.strip_prefix(p).unwrap_or(rest);
    }
    if let Some(p) = prefix {
        rest = rest.strip_prefix(p).unwrap_or(rest);
    }
    if rest.len() == national.len() {
        return Strip::Kept;
    }
    let general = region.descriptors().general();
    let len = rest.len() as u16;
    let too_short = general
        .possible_length()
        .first()
        .is_some_and(|min| len < *min && !general.possible_local_length().contains(&len));
    if too_short {
        Strip::Kept
    } else {
        Strip::To(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::udf::phone::e164_crate;
    use phonenumber::metadata::Descriptor;

    /// Country codes to build numbers from: NANP (with Caribbean area codes below),
    /// the generator's countries, shared and non-geographic codes, codes whose
    /// regions strip national prefixes in odd ways, and unassigned ones.
    const CODES: &[&str] = &[
        "1", "44", "49", "33", "34", "61", "39", "7", "86", "91", "55", "52", "81", "262", "590",
        "599", "800", "808", "870", "979", "882", "212", "20", "27", "47", "358", "354", "380",
        "972", "971", "64", "65", "852", "998", "28", "42", "0", "",
    ];

    const NANP_AREAS: &[&str] = &[
        "201", "212", "268", "284", "340", "415", "441", "473", "649", "658", "670", "671", "684",
        "721", "758", "767", "784", "787", "809", "829", "849", "868", "869", "876", "939", "204",
        "416", "604", "800", "888", "900", "211", "555", "999", "100", "011",
    ];

    const REGIONS: &[Option<&str>] = &[
        None,
        Some("US"),
        Some("CA"),
        Some("GB"),
        Some("DE"),
        Some("FR"),
        Some("ES"),
        Some("AU"),
        Some("IT"),
        Some("BR"),
        Some("MX"),
        Some("AR"),
        Some("RU"),
        Some("JP"),
        Some("PR"),
        Some("ZZ"),
    ];

    /// A small deterministic generator (no seed file, no flakiness).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
        fn digits(&mut self, len: usize) -> String {
            (0..len)
                .map(|_| char::from(b'0' + self.next(10) as u8))
                .collect()
        }
    }

    fn inputs() -> Vec<String> {
        let mut rng = Lcg(5);
        let mut out = Vec::new();
        for _ in 0..1500 {
            let code = CODES[rng.next(CODES.len() as u64) as usize];
            let len = rng.next(16) as usize;
            out.push(format!("+{code}{}", rng.digits(len)));
        }
        for _ in 0..1500 {
            let area = NANP_AREAS[rng.next(NANP_AREAS.len() as u64) as usize];
            let len = 5 + rng.next(4) as usize;
            let lead = 1 + rng.next(9);
            out.push(format!("+1{area}{lead}{}", rng.digits(len)));
        }
        // Every region's example numbers (valid by construction), as is and with
        // the last digit changed (often invalid), for every region's rules.
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            let descs = [d.fixed_line(), d.mobile(), d.toll_free()];
            for example in descs.into_iter().flatten().filter_map(Descriptor::example) {
                out.push(format!("+{}{example}", meta.country_code()));
                let mut changed = example.to_string();
                if let Some(last) = changed.pop() {
                    let digit = (last.to_digit(10).unwrap_or(0) + 1) % 10;
                    out.push(format!("+{}{changed}{digit}", meta.country_code()));
                }
            }
        }
        for fixed in [
            "+14155552671",
            "+10000000000",
            "+11234567890",
            "+1011447911123456",
            "+442079460018",
            "+447911123456",
            "+4915112345678",
            "+491511234567890",
            "+4930123456",
            "+33612345678",
            "+330612345678",
            "+61412345678",
            "+390236618300",
            "+80012345678",
            "+97912345678",
            "+12",
            "+123",
            "+1234",
            "+",
            "+0",
        ] {
            out.push(fixed.to_string());
        }
        out
    }

    #[test]
    fn fast_path_gives_the_crates_answer() {
        let (mut fast, mut valid, mut total) = (0, 0, 0);
        for (i, raw) in inputs().iter().enumerate() {
            let name = REGIONS[i % REGIONS.len()];
            let region = name.and_then(|r| r.parse::<country::Id>().ok());
            if let Fast::Done(result) = parse_plus_digits(raw, region) {
                assert_eq!(result, e164_crate(raw, region), "{raw} in {name:?}");
                fast += 1;
                valid += usize::from(result.is_some());
            }
            total += 1;
        }
        // The path must actually be taken for most E.164-looking input.
        assert!(fast * 10 >= total * 7, "fast path taken {fast} of {total}");
        // And it must see valid numbers, not only answer None.
        assert!(valid * 5 >= fast, "{valid} valid of {fast}");
    }

    #[test]
    fn numbers_the_crate_strips_a_national_prefix_from_agree_with_it() {
        // Read in the US (national prefix 1), a `+49 15…` mobile loses its `1`;
        // the generator's German numbers all start so. Russia (8) and regions
        // with a prefix pattern for parsing take the same path.
        let mut rng = Lcg(11);
        let (mut fast, mut total) = (0, 0);
        for i in 0..4000 {
            let code = ["49", "44", "33", "7", "1", "39", "61", "34", "55"][i % 9];
            let lead = ["1", "8", "0", "15", "17"][rng.next(5) as usize];
            let len = 5 + rng.next(9) as usize;
            let raw = format!("+{code}{lead}{}", rng.digits(len));
            let name = [Some("US"), Some("RU"), Some("GB"), Some("BR"), None][i % 5];
            let region = name.and_then(|r| r.parse::<country::Id>().ok());
            if let Fast::Done(result) = parse_plus_digits(&raw, region) {
                assert_eq!(result, e164_crate(&raw, region), "{raw} in {name:?}");
                fast += 1;
            }
            total += 1;
        }
        assert!(fast * 2 >= total, "fast path taken {fast} of {total}");
        let us = "US".parse::<country::Id>().ok();
        let german = "+4915123456789";
        assert_eq!(
            parse_plus_digits(german, us),
            Fast::Done(e164_crate(german, us))
        );
    }

    #[test]
    fn valid_numbers_of_the_common_regions_take_the_fast_path() {
        for (raw, region, want) in [
            ("+14155552671", Some("US"), "+14155552671"),
            ("+14165550123", Some("US"), "+14165550123"),
            ("+447911123456", Some("US"), "+447911123456"),
            ("+447911123456", Some("GB"), "+447911123456"),
            ("+61412345678", None, "+61412345678"),
        ] {
            let region = region.and_then(|r| r.parse::<country::Id>().ok());
            assert_eq!(
                parse_plus_digits(raw, region),
                Fast::Done(Some(want.to_string())),
                "{raw}"
            );
        }
    }
}
