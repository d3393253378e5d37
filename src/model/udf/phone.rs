//! `e164(phone, default_region)`: a phone number in E.164 (`+14155552671`), parsed
//! with the `phonenumber` crate (Google's libphonenumber metadata). National formats
//! are read in `default_region` (ISO 3166 alpha-2, e.g. 'US', 'GB'); numbers written
//! with `+` ignore it. Unparseable or invalid numbers, and unknown regions for
//! national formats, are NULL so they never link two people.
//!
//! Parsing is the expensive part: numbers already in E.164 form take a fast path
//! that gives the crate's answer without its slow pattern cache (`phone_fast`);
//! others go through the crate (tens of microseconds a number). Order tables repeat
//! each customer's number on every order, far apart, so results are kept in a
//! process-wide cache shared by every batch, model and thread; it is emptied when
//! it reaches `CACHE_LIMIT` entries, which bounds its memory.

use std::sync::{Arc, LazyLock, Mutex, Once};

use arrow::array::StringArray;
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use phonenumber::{Mode, country};

use super::phone_fast::{Fast, parse_plus_digits};

/// The E.164 form of `raw`, read in `region` when it has no country code.
pub fn e164(raw: &str, region: Option<&str>) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let region = region.and_then(|r| r.trim().to_ascii_uppercase().parse::<country::Id>().ok());
    match parse_plus_digits(raw, region) {
        Fast::Done(result) => result,
        Fast::Fallback => e164_crate(raw, region),
    }
}

/// Compiled patterns the crate's process-wide regex cache keeps (its default, 100,
/// is fewer than one NANP number's validation touches, so it recompiles patterns).
const CRATE_REGEX_CACHE: usize = 4096;

/// What `phonenumber` itself answers for `raw` (trimmed, non-empty).
pub(super) fn e164_crate(raw: &str, region: Option<country::Id>) -> Option<String> {
    static WIDEN: Once = Once::new();
    WIDEN.call_once(|| {
        let cache = phonenumber::metadata::DATABASE.cache();
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_capacity(CRATE_REGEX_CACHE);
    });
    let number = phonenumber::parse(region, raw).ok()?;
    number
        .is_valid()
        .then(|| number.format().mode(Mode::E164).to_string())
}

/// Most (phone, region) results the cache holds before it starts over.
const CACHE_LIMIT: usize = 2_000_000;

/// The results for one region argument, keyed by the raw number.
type Numbers = foldhash::HashMap<Box<str>, Option<Arc<str>>>;

/// Parsed numbers keyed by their raw text, one map per region argument (models
/// pass one or two regions, so they are scanned, not hashed). A look-up borrows
/// the number's text and allocates nothing: at 1M orders nearly every call is a
/// hit, and copying both key strings per hit and SipHashing them showed up in the
/// profile of stg_shop_orders.
#[derive(Default)]
struct Cache {
    regions: Vec<(Option<Box<str>>, Numbers)>,
    /// Entries over all regions, for `CACHE_LIMIT`.
    len: usize,
}

impl Cache {
    fn get(&self, raw: &str, region: Option<&str>) -> Option<&Option<Arc<str>>> {
        self.regions
            .iter()
            .find(|(r, _)| r.as_deref() == region)
            .and_then(|(_, numbers)| numbers.get(raw))
    }

    fn insert(&mut self, raw: &str, region: Option<&str>, parsed: Option<Arc<str>>) {
        if self.len >= CACHE_LIMIT {
            *self = Cache::default();
        }
        let at = match self
            .regions
            .iter()
            .position(|(r, _)| r.as_deref() == region)
        {
            Some(at) => at,
            None => {
                self.regions
                    .push((region.map(Box::from), Numbers::default()));
                self.regions.len() - 1
            }
        };
        if self.regions[at].1.insert(Box::from(raw), parsed).is_none() {
            self.len += 1;
        }
    }
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| Mutex::new(Cache::default()));

/// [`e164`] through the process-wide cache. Numbers not cached yet are parsed
/// outside the lock, so threads never wait on each other's parsing.
fn e164_cached(raw: &str, region: Option<&str>) -> Option<Arc<str>> {
    if let Some(hit) = CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(raw, region)
    {
        return hit.clone();
    }
    let parsed: Option<Arc<str>> = e164(raw, region).map(Arc::from);
    CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(raw, region, parsed.clone());
    parsed
}

/// The `e164` scalar UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct E164 {
    signature: Signature,
}

impl E164 {
    /// A new instance.
    pub fn new() -> Self {
        E164 {
            signature: Signature::string(2, Volatility::Immutable),
        }
    }
}

impl Default for E164 {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for E164 {
    fn name(&self) -> &str {
        "e164"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let phones = super::utf8_arg(&args.args, 0, args.number_rows)?;
        let regions = super::utf8_arg(&args.args, 1, args.number_rows)?;
        // Within a batch, distinct values first: one cache look-up each.
        let mut seen: foldhash::HashMap<(&str, Option<&str>), Option<Arc<str>>> =
            foldhash::HashMap::default();
        let out: StringArray = phones
            .iter()
            .zip(regions.iter())
            .map(|(phone, region)| {
                let phone = phone?;
                seen.entry((phone, region))
                    .or_insert_with(|| e164_cached(phone, region))
                    .clone()
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_and_international_formats() {
        assert_eq!(
            e164("(415) 555-2671", Some("US")).as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            e164("415.555.2671", Some("us")).as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            e164("020 7946 0018", Some("GB")).as_deref(),
            Some("+442079460018")
        );
        assert_eq!(
            e164("+44 20 7946 0018", Some("US")).as_deref(),
            Some("+442079460018")
        );
        assert_eq!(
            e164("+1 415-555-2671", None).as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            e164("030 123456", Some("DE")).as_deref(),
            Some("+4930123456")
        );
    }

    #[test]
    fn the_cache_keeps_results_apart_per_region() {
        let mut cache = Cache::default();
        cache.insert(
            "020 7946 0018",
            Some("GB"),
            Some(Arc::from("+442079460018")),
        );
        cache.insert("020 7946 0018", None, None);
        assert_eq!(
            cache.get("020 7946 0018", Some("GB")),
            Some(&Some(Arc::from("+442079460018")))
        );
        assert_eq!(cache.get("020 7946 0018", None), Some(&None));
        assert_eq!(cache.get("020 7946 0018", Some("US")), None);
        assert_eq!(cache.len, 2);
        assert_eq!(
            e164_cached("(415) 555-2671", Some("US")).as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            e164_cached("(415) 555-2671", Some("US")).as_deref(),
            Some("+14155552671")
        );
    }

    #[test]
    fn invalid_numbers_are_none() {
        assert_eq!(e164("12", Some("US")), None);
        assert_eq!(e164("not a phone", Some("US")), None);
        assert_eq!(e164("", Some("US")), None);
        assert_eq!(e164("(415) 555-2671", None), None);
        assert_eq!(e164("(415) 555-2671", Some("ZZ")), None);
        assert_eq!(e164("+1 000 000 0000", None), None);
    }
}
