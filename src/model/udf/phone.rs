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

/// [`e164`] for each of `keys` (distinct phone and region pairs), through the
/// process-wide cache: one lock to look them all up, the misses parsed outside
/// it, one lock to store them. Locking per value made the two cores queue on the
/// cache at 10M orders (half a million distinct phones: each look-up a cache miss
/// held under the lock), where the whole call cost ~2 µs a row.
fn e164_cached_all(keys: &[(&str, Option<&str>)]) -> Vec<Option<Arc<str>>> {
    let mut out: Vec<Option<Option<Arc<str>>>> = {
        let cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .map(|(raw, region)| cache.get(raw, *region).cloned())
            .collect()
    };
    let parsed: Vec<(usize, Option<Arc<str>>)> = out
        .iter()
        .enumerate()
        .filter(|(_, hit)| hit.is_none())
        .map(|(i, _)| (i, e164(keys[i].0, keys[i].1).map(Arc::from)))
        .collect();
    if !parsed.is_empty() {
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        for (i, result) in &parsed {
            cache.insert(keys[*i].0, keys[*i].1, result.clone());
        }
    }
    for (i, result) in parsed {
        out[i] = Some(result);
    }
    out.into_iter().map(Option::flatten).collect()
}

/// [`e164`] of one value through the process-wide cache.
#[cfg(test)]
fn e164_cached(raw: &str, region: Option<&str>) -> Option<Arc<str>> {
    e164_cached_all(&[(raw, region)]).pop().flatten()
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
        // Within a batch, distinct values first: one cache look-up each, all
        // under one lock.
        let mut slot: foldhash::HashMap<(&str, Option<&str>), usize> = foldhash::HashMap::default();
        let mut keys: Vec<(&str, Option<&str>)> = Vec::new();
        let rows: Vec<Option<usize>> = phones
            .iter()
            .zip(regions.iter())
            .map(|(phone, region)| {
                let key = (phone?, region);
                Some(*slot.entry(key).or_insert_with(|| {
                    keys.push(key);
                    keys.len() - 1
                }))
            })
            .collect();
        let results = e164_cached_all(&keys);
        let out: StringArray = rows
            .into_iter()
            .map(|row| row.and_then(|i| results[i].as_deref()))
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

    #[tokio::test]
    async fn a_batch_maps_each_row_to_its_own_number() -> Result<()> {
        // Repeats, NULLs, one number in two regions and an invalid one in a batch:
        // each row gets the result of its own (number, region).
        let ctx = datafusion::prelude::SessionContext::new();
        super::super::register(&ctx, &super::super::Settings::default());
        let batches = ctx
            .sql(
                "SELECT i, e164(p, r) FROM (VALUES \
                 (1, '020 7946 0018', 'GB'), (2, NULL, 'US'), (3, '(415) 555-2671', 'US'), \
                 (4, '020 7946 0018', 'US'), (5, '020 7946 0018', 'GB'), (6, '12', 'US'), \
                 (7, '(415) 555-2671', 'US'), (8, '+4915123456789', NULL)) t(i, p, r) ORDER BY i",
            )
            .await?
            .collect()
            .await?;
        let text = arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
        let values: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split('|').nth(2))
            .map(str::trim)
            .skip(1)
            .collect();
        assert_eq!(
            values,
            [
                "+442079460018",
                "",
                "+14155552671",
                "",
                "+442079460018",
                "",
                "+14155552671",
                "+4915123456789"
            ],
            "{text}"
        );
        Ok(())
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
