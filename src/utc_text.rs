//! UTC instants as RFC 3339 text, written into a fixed buffer with integer
//! arithmetic instead of chrono's per-value formatting. Two hot paths format every
//! timestamp of a column: the diff's canonical text (`diff::canonical`, which must
//! equal Arrow's own cast) and the `utc_iso8601` model function.

/// Formats UTC timestamps as Arrow prints them, into a fixed buffer, remembering
/// the last day's date so that values of one day skip the calendar arithmetic.
#[derive(Default)]
pub struct UtcText {
    buf: [u8; 32],
    /// Days since the epoch whose `YYYY-MM-DDT` is in `buf[..11]`, if any.
    day: Option<i64>,
}

impl UtcText {
    /// `value` (in units of 1/`per_second` s since the epoch) as RFC 3339 with `Z`
    /// and the shortest of none, 3, 6 or 9 fraction digits that is exact (chrono's
    /// `SecondsFormat::AutoSi`, which Arrow uses). `None` outside years 0–9999.
    pub fn format(&mut self, value: i64, per_second: i64) -> Option<&[u8]> {
        let secs = value.div_euclid(per_second);
        let nanos = value.rem_euclid(per_second) * (1_000_000_000 / per_second);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        if self.day != Some(days) {
            let (year, month, day) = civil(days);
            if !(0..=9999).contains(&year) {
                return None;
            }
            let b = &mut self.buf;
            b[0] = b'0' + (year / 1000) as u8;
            b[1] = b'0' + (year / 100 % 10) as u8;
            b[2] = b'0' + (year / 10 % 10) as u8;
            b[3] = b'0' + (year % 10) as u8;
            b[4] = b'-';
            two(&mut b[5..7], month);
            b[7] = b'-';
            two(&mut b[8..10], day);
            b[10] = b'T';
            self.day = Some(days);
        }
        let b = &mut self.buf;
        two(&mut b[11..13], sod / 3600);
        b[13] = b':';
        two(&mut b[14..16], sod / 60 % 60);
        b[16] = b':';
        two(&mut b[17..19], sod % 60);
        let mut end = 19;
        let digits = if nanos == 0 {
            0
        } else if nanos % 1_000_000 == 0 {
            3
        } else if nanos % 1_000 == 0 {
            6
        } else {
            9
        };
        if digits > 0 {
            b[end] = b'.';
            end += 1;
            let mut frac = nanos / 10_i64.pow(9 - digits);
            for p in (0..digits as usize).rev() {
                b[end + p] = b'0' + (frac % 10) as u8;
                frac /= 10;
            }
            end += digits as usize;
        }
        b[end] = b'Z';
        Some(&self.buf[..end + 1])
    }
}

fn two(out: &mut [u8], n: i64) {
    out[0] = b'0' + (n / 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// Civil date (year, month, day) from days since 1970-01-01 (Howard Hinnant's
/// algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}
