//! The `phonenumber` metadata's patterns, compiled for [`super::phone_fast`] and
//! arranged so that one number costs few regex searches.
//!
//! Validating a number the way the crate does means testing it against up to ten
//! number-type patterns of a region, and for a shared country code (NANP `1` has
//! 25 regions) against each region's leading digits in turn: an invalid NANP
//! number used to run some 45 searches. Here the type patterns a national-number
//! length allows are joined into one alternation (the crate only asks whether
//! *some* type matches), and a shared code's leading-digit patterns form one
//! [`RegexSet`] that answers for all its regions in a single pass. Countries are
//! found by indexing a table with the code, not through the crate's maps (which
//! allocate a `Vec` per look-up).
//!
//! Every pattern is compiled as the crate compiles it (`ignore_whitespace`) and
//! anchored at the start only: the crate asks whether a match starts at the first
//! digit, not whether the whole number matches. They are compiled without Unicode
//! classes, which cuts compiling and searching several-fold: the text searched is
//! ASCII digits, on which `\d` and the other classes mean the same either way. A
//! pattern that fails to compile matches nothing; the crate would panic on it,
//! and the tests check that none of its metadata's patterns, joined or not, fails.
//!
//! The tables are per thread: a `Regex` shared by threads hands its search cache
//! out through a pool that other threads than its first take from under a lock,
//! while the first writes a word they all read on every search. A thread compiles
//! only the patterns its numbers need (about 3 ms for NANP and a few countries).

use std::cell::OnceCell;

use phonenumber::country;
use phonenumber::metadata::{DATABASE, Descriptor, Descriptors, Metadata};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// Country codes have at most three digits.
const CODES: u16 = 1000;

thread_local! {
    static TABLES: Tables = Tables::build();
}

/// Run `f` with this thread's tables (`None` while the thread is being torn down).
pub fn with_tables<R>(f: impl FnOnce(&Tables) -> R) -> Option<R> {
    TABLES.try_with(f).ok()
}

pub struct Tables {
    metas: Vec<Meta>,
    /// Index in `metas` by the metadata's address (it lives in a static).
    by_addr: foldhash::HashMap<usize, usize>,
    /// By country code; `None` for a code the crate does not know.
    codes: Vec<Option<Code>>,
}

/// Where `is_valid` looks for the metadata of a country code's numbers.
enum Code {
    /// The code's only region (`None`: a region id the crate cannot parse, so the
    /// number is never valid).
    Single(Option<usize>),
    /// Regions sharing the code, in the crate's order: the first whose leading
    /// digits, or (without leading digits) whose number types, match.
    Shared(Shared),
}

struct Shared {
    regions: Vec<Region>,
    /// The regions' leading-digit patterns, in order, for `leading`.
    sources: Vec<&'static str>,
    leading: OnceCell<Option<RegexSet>>,
}

struct Region {
    meta: usize,
    /// Whether `country::Id` parses the region id; the crate resolves a matching
    /// region through it, and an unknown id ends the search with no metadata.
    known: bool,
    /// Its pattern's index in the set; `None` when it has no leading digits.
    leading: Option<usize>,
}

/// One region's metadata with its patterns, compiled on first use.
pub struct Meta {
    pub meta: &'static Metadata,
    idd: OnceCell<Option<Regex>>,
    national_prefix: OnceCell<Option<Regex>>,
    general: OnceCell<Option<Regex>>,
    types: OnceCell<Types>,
}

/// The number-type patterns joined per national-number length. Lengths that allow
/// the same types share one pattern.
struct Types {
    /// Every length some type lists, with its pattern's index in `joined`.
    listed: Vec<(u16, usize)>,
    /// The pattern for any other length (types that list no lengths).
    other: usize,
    /// Which types (bits in [`type_descriptors`] order) each pattern joins.
    joined: Vec<(u16, OnceCell<Option<Regex>>)>,
}

/// The metadata a number of a country code is validated against.
pub struct Found<'a> {
    pub meta: &'a Meta,
    /// Whether the search already found that the number has a type.
    pub typed: bool,
}

impl Tables {
    /// Whether the crate knows country code `code`.
    pub fn is_code(&self, code: u16) -> bool {
        self.codes
            .get(usize::from(code))
            .is_some_and(Option::is_some)
    }

    /// The patterns of `meta`, one of the crate's metadata.
    pub fn patterns(&self, meta: &Metadata) -> Option<&Meta> {
        let at = *self.by_addr.get(&address(meta))?;
        self.metas.get(at)
    }

    /// The metadata `is_valid` checks a number against: the only region of its
    /// country code, or the first of a shared code's regions (NANP: US, CA, the
    /// Caribbean…) whose leading digits, or else whose number types, match.
    pub fn metadata_for(&self, code: u16, national: &str) -> Option<Found<'_>> {
        match self.codes.get(usize::from(code))?.as_ref()? {
            Code::Single(meta) => Some(Found {
                meta: self.metas.get((*meta)?)?,
                typed: false,
            }),
            Code::Shared(shared) => {
                // The US comes first and has no leading digits: its valid numbers
                // need no set search.
                let mut leading = None;
                for region in &shared.regions {
                    let meta = self.metas.get(region.meta)?;
                    let found = match region.leading {
                        Some(at) => leading
                            .get_or_insert_with(|| shared.set().map(|set| set.matches(national)))
                            .as_ref()
                            .is_some_and(|matches| matches.matched(at)),
                        None => meta.has_type(national),
                    };
                    if found {
                        return region.known.then_some(Found {
                            meta,
                            typed: region.leading.is_none(),
                        });
                    }
                }
                None
            }
        }
    }

    fn build() -> Tables {
        let mut tables = Tables {
            metas: Vec::new(),
            by_addr: foldhash::HashMap::default(),
            codes: Vec::new(),
        };
        for code in 0..CODES {
            let code = DATABASE.by_code(&code).is_some().then(|| tables.code(code));
            tables.codes.push(code);
        }
        for meta in DATABASE.iter() {
            tables.intern(meta);
        }
        tables
    }

    fn intern(&mut self, meta: &'static Metadata) -> usize {
        if let Some(&at) = self.by_addr.get(&address(meta)) {
            return at;
        }
        self.metas.push(Meta {
            meta,
            idd: OnceCell::new(),
            national_prefix: OnceCell::new(),
            general: OnceCell::new(),
            types: OnceCell::new(),
        });
        self.by_addr.insert(address(meta), self.metas.len() - 1);
        self.metas.len() - 1
    }

    fn code(&mut self, code: u16) -> Code {
        let regions = DATABASE.region(&code).unwrap_or_default();
        if let [only] = regions.as_slice() {
            // Non-geographic codes share the id "001": the crate takes the code's
            // own metadata, not the one `by_id` holds.
            let meta = if *only == "001" {
                DATABASE
                    .by_code(&code)
                    .and_then(|metas| metas.into_iter().next())
            } else if only.parse::<country::Id>().is_ok() {
                DATABASE.by_id(*only)
            } else {
                None
            };
            return Code::Single(meta.map(|meta| self.intern(meta)));
        }
        let mut shared = Shared {
            regions: Vec::new(),
            sources: Vec::new(),
            leading: OnceCell::new(),
        };
        for region in regions {
            // A region without metadata ends the crate's search with nothing.
            let Some(meta) = DATABASE.by_id(region) else {
                break;
            };
            let leading = meta.leading_digits().map(|pattern| {
                shared.sources.push(pattern.as_str());
                shared.sources.len() - 1
            });
            shared.regions.push(Region {
                meta: self.intern(meta),
                known: region.parse::<country::Id>().is_ok(),
                leading,
            });
        }
        Code::Shared(shared)
    }
}

impl Shared {
    fn set(&self) -> Option<&RegexSet> {
        self.leading
            .get_or_init(|| {
                RegexSetBuilder::new(self.sources.iter().map(|p| format!("^(?:{p})")))
                    .ignore_whitespace(true)
                    .unicode(false)
                    .build()
                    .ok()
            })
            .as_ref()
    }
}

impl Meta {
    /// Whether the international dialling prefix starts `digits`.
    pub fn idd_starts(&self, digits: &str) -> bool {
        let pattern = self.meta.international_prefix().map(|p| p.as_str());
        starts(&self.idd, pattern, digits)
    }

    /// Where the match of the pattern for national prefixes to strip ends, when
    /// one starts `national`.
    pub fn national_prefix_end(&self, national: &str) -> Option<usize> {
        let pattern = self.meta.national_prefix_for_parsing().map(|p| p.as_str());
        compiled(&self.national_prefix, pattern, national)?
            .find(national)
            .map(|m| m.end())
    }

    /// Whether `national` is some type of number of this region (the crate's
    /// `number_type` is not `Unknown`): it matches the general descriptor and one
    /// of the types'.
    pub fn has_type(&self, national: &str) -> bool {
        let general = self.meta.descriptors().general();
        if !allows(general, national.len())
            || !starts(
                &self.general,
                Some(general.national_number().as_str()),
                national,
            )
        {
            return false;
        }
        let descriptors = self.meta.descriptors();
        let types = self.types.get_or_init(|| Types::new(descriptors));
        let at = types
            .listed
            .iter()
            .find(|(len, _)| usize::from(*len) == national.len())
            .map_or(types.other, |(_, at)| *at);
        types
            .joined(at, descriptors)
            .is_some_and(|re| re.is_match(national))
    }
}

impl Types {
    fn new(descriptors: &Descriptors) -> Types {
        let mask = |len: usize| {
            type_descriptors(descriptors)
                .enumerate()
                .filter(|(_, d)| allows(d, len))
                .fold(0u16, |mask, (i, _)| mask | 1 << i)
        };
        let mut lengths: Vec<u16> = type_descriptors(descriptors)
            .flat_map(|d| d.possible_length().iter().copied())
            .collect();
        lengths.sort_unstable();
        lengths.dedup();
        let mut joined: Vec<(u16, OnceCell<Option<Regex>>)> = Vec::new();
        let mut index = |mask: u16| match joined.iter().position(|(m, _)| *m == mask) {
            Some(at) => at,
            None => {
                joined.push((mask, OnceCell::new()));
                joined.len() - 1
            }
        };
        let listed = lengths
            .iter()
            .map(|&len| (len, index(mask(usize::from(len)))))
            .collect();
        // A length no type lists: only the types without a list allow it.
        let other = index(mask(usize::MAX));
        Types {
            listed,
            other,
            joined,
        }
    }

    /// The `at`th joined pattern of the types of `descriptors`.
    fn joined(&self, at: usize, descriptors: &Descriptors) -> Option<&Regex> {
        let (mask, regex) = self.joined.get(at)?;
        regex
            .get_or_init(|| {
                let patterns: Vec<String> = type_descriptors(descriptors)
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, d)| format!("(?:{})", d.national_number().as_str()))
                    .collect();
                // No type allows the length: an empty alternation would match all.
                if patterns.is_empty() {
                    return None;
                }
                anchored(&patterns.join("|"))
            })
            .as_ref()
    }
}

/// The number types `number_type` tries (all but the general descriptor).
fn type_descriptors(d: &Descriptors) -> impl Iterator<Item = &Descriptor> {
    [
        d.premium_rate(),
        d.toll_free(),
        d.shared_cost(),
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
        d.fixed_line(),
        d.mobile(),
    ]
    .into_iter()
    .flatten()
}

/// The crate's length check of `Descriptor::is_match` (no list: any length).
fn allows(desc: &Descriptor, len: usize) -> bool {
    let lengths = desc.possible_length();
    lengths.is_empty() || lengths.iter().any(|&l| usize::from(l) == len)
}

/// Whether `pattern` (compiled into `cell` on first use) matches from the first
/// character of `text`, which is what the crate tests (`find(text)` starting at
/// 0: the leftmost match starts at 0 exactly when some match does).
fn starts(cell: &OnceCell<Option<Regex>>, pattern: Option<&str>, text: &str) -> bool {
    compiled(cell, pattern, text).is_some_and(|re| re.is_match(text))
}

/// `pattern` compiled anchored, once, into `cell`, to search `text`.
fn compiled<'a>(
    cell: &'a OnceCell<Option<Regex>>,
    pattern: Option<&str>,
    text: &str,
) -> Option<&'a Regex> {
    debug_assert!(text.is_ascii(), "patterns are compiled for ASCII text");
    cell.get_or_init(|| anchored(pattern?)).as_ref()
}

fn anchored(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{pattern})"))
        .ignore_whitespace(true)
        .unicode(false)
        .build()
        .ok()
}

fn address(meta: &Metadata) -> usize {
    std::ptr::from_ref(meta) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pattern that failed to compile would silently match nothing, where the
    /// crate would panic: none of its metadata's may, alone or joined.
    #[test]
    fn every_pattern_compiles() {
        let tables = Tables::build();
        for meta in &tables.metas {
            let d = meta.meta.descriptors();
            let name = meta.meta.id();
            for pattern in [
                meta.meta.international_prefix(),
                meta.meta.national_prefix_for_parsing(),
                Some(d.general().national_number()),
            ]
            .into_iter()
            .flatten()
            .chain(type_descriptors(d).map(Descriptor::national_number))
            {
                assert!(anchored(pattern.as_str()).is_some(), "{name}: {pattern:?}");
            }
            let types = Types::new(d);
            for (at, (mask, _)) in types.joined.iter().enumerate() {
                let compiled = types.joined(at, d).is_some();
                assert_eq!(compiled, *mask != 0, "{name}: types {mask:b}");
            }
        }
        for code in tables.codes.iter().flatten() {
            if let Code::Shared(shared) = code {
                assert!(shared.set().is_some(), "{:?}", shared.sources);
            }
        }
    }

    #[test]
    fn a_length_no_type_allows_has_no_type() {
        // NANP types all want 10 digits, while the general pattern (`[2-9]\d{9}|
        // 3\d{6}`, matched from the first digit only) passes 9 or 13 digits.
        let tables = Tables::build();
        let us = DATABASE.by_id("US").and_then(|us| tables.patterns(us));
        let general = |national| {
            us.is_some_and(|us| {
                let pattern = us.meta.descriptors().general().national_number();
                starts(&us.general, Some(pattern.as_str()), national)
            })
        };
        for national in ["3123456789012", "312345678"] {
            assert!(general(national), "{national}");
            assert!(us.is_some_and(|us| !us.has_type(national)), "{national}");
        }
        assert!(us.is_some_and(|us| us.has_type("4155552671")));
    }
}
