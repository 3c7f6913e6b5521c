//! Feed dates in the forms publishers really write: RFC 822 with two- or four-digit years,
//! missing seconds, named and military zones; W3CDTF and the ISO 8601 variants (basic and
//! extended, date only, fractional seconds, `+hh`, `+hhmm`); and the asctime form.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// Parses one date as a feed writes it; `None` when it is not a date webcare can read.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.as_bytes()[0].is_ascii_digit()
        && let Some(d) = parse_iso(s)
    {
        return Some(d);
    }
    parse_rfc822(s).or_else(|| parse_asctime(s))
}

/// ISO 8601 / W3CDTF: `2003-12-31T10:14:55Z`, `2003-12-31T10:14:55.123-08:00`, `20031231T101455Z`,
/// `2003-12-31 10:14`, `2003-12`, `2003`.
fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let mut i = 0;
    let num = |i: &mut usize, n: usize| -> Option<u32> {
        let part = b.get(*i..*i + n)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *i += n;
        // At most four digits, all checked above.
        Some(part.iter().fold(0, |v, d| v * 10 + u32::from(d - b'0')))
    };
    let year = num(&mut i, 4)? as i32;
    let mut month = 1;
    let mut day = 1;
    let extended = b.get(i) == Some(&b'-');
    if extended {
        i += 1;
        month = num(&mut i, 2)?;
        if b.get(i) == Some(&b'-') {
            i += 1;
            day = num(&mut i, 2)?;
        }
    } else if b.get(i).is_some_and(u8::is_ascii_digit) {
        month = num(&mut i, 2)?;
        day = num(&mut i, 2)?;
    }
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0u32);
    if matches!(b.get(i), Some(b'T' | b't' | b' ')) && b.get(i + 1).is_some_and(u8::is_ascii_digit)
    {
        i += 1;
        hour = num(&mut i, 2)?;
        let colon = b.get(i) == Some(&b':');
        if colon {
            i += 1;
        }
        if b.get(i).is_some_and(u8::is_ascii_digit) {
            minute = num(&mut i, 2)?;
            if b.get(i) == Some(&b':') || (!colon && b.get(i).is_some_and(u8::is_ascii_digit)) {
                if b.get(i) == Some(&b':') {
                    i += 1;
                }
                second = num(&mut i, 2)?;
                if matches!(b.get(i), Some(b'.' | b',')) {
                    i += 1;
                    let start = i;
                    while b.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                    let frac = &s[start..i.min(start + 9)];
                    nanos = format!("{frac:0<9}").parse().unwrap_or(0);
                }
            }
        }
    }
    let rest = s[i..].trim();
    let offset = if rest.is_empty() {
        0
    } else {
        zone_offset(rest)?
    };
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    // 24:00 and leap seconds appear in real feeds; roll them into the next unit.
    let extra = i64::from(hour == 24) * 86_400 + i64::from(second == 60);
    let time = date.and_hms_nano_opt(hour % 24, minute, second.min(59), nanos)?;
    let utc = Utc.from_utc_datetime(&time);
    // Most feeds write UTC: no date arithmetic for them.
    if offset == extra {
        return Some(utc);
    }
    Some(utc - chrono::Duration::seconds(offset - extra))
}

/// RFC 822 / 2822 and their common corruptions: `Thu, 01 Jan 2004 19:48:21 GMT`, `1 Jan 04`,
/// `Thu,01 Jan 2004 19:48 EST`, `Thu, 1 January 2004 19:48:21 +05:30`, day and month swapped.
fn parse_rfc822(s: &str) -> Option<DateTime<Utc>> {
    let cleaned: String = s.replace([',', '\u{a0}'], " ");
    let mut parts: Vec<&str> = cleaned.split_whitespace().collect();
    if parts.first().is_some_and(|p| weekday(p)) {
        parts.remove(0);
    }
    if parts.len() < 3 {
        return None;
    }
    // `Jan 01 2004` as well as `01 Jan 2004`.
    let (day, mon) = match (parts[0].parse::<u32>(), month(parts[1])) {
        (Ok(d), Some(m)) => (d, m),
        _ => (parts[1].parse::<u32>().ok()?, month(parts[0])?),
    };
    let mut year: i32 = parts[2].trim_end_matches('.').parse().ok()?;
    if parts[2].len() <= 2 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let mut rest = &parts[3..];
    let (mut h, mut m, mut sec) = (0, 0, 0);
    if let Some(t) = rest.first().filter(|t| t.contains(':')) {
        let mut it = t.split(':');
        h = it.next()?.parse().ok()?;
        m = it.next()?.parse().ok()?;
        sec = it
            .next()
            .map(|x| x.split('.').next().unwrap_or("0").parse())
            .transpose()
            .ok()?
            .unwrap_or(0);
        rest = &rest[1..];
    }
    // Some writers put the weekday or a year last; a second word such as "(EST)" is a comment.
    let offset = match rest.first() {
        Some(z) => zone_offset(z).unwrap_or(0),
        None => 0,
    };
    let date = NaiveDate::from_ymd_opt(year, mon, day)?;
    let time = date.and_hms_opt(h, m, sec.min(59))?;
    Some(Utc.from_utc_datetime(&time) - chrono::Duration::seconds(offset))
}

/// asctime: `Sun Jan  4 16:29:06 2004` or `Sun Jan  4 16:29:06 PST 2004`.
fn parse_asctime(s: &str) -> Option<DateTime<Utc>> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() < 5 || !weekday(parts[0]) {
        return None;
    }
    let mon = month(parts[1])?;
    let day: u32 = parts[2].parse().ok()?;
    let (zone, year) = if parts.len() >= 6 {
        (zone_offset(parts[4]).unwrap_or(0), parts[5])
    } else {
        (0, parts[4])
    };
    let year: i32 = year.parse().ok()?;
    let mut t = parts[3].split(':');
    let h = t.next()?.parse().ok()?;
    let m = t.next()?.parse().ok()?;
    let sec = t.next().unwrap_or("0").parse().ok()?;
    let time = NaiveDate::from_ymd_opt(year, mon, day)?.and_hms_opt(h, m, sec)?;
    Some(Utc.from_utc_datetime(&time) - chrono::Duration::seconds(zone))
}

fn weekday(p: &str) -> bool {
    let p = p.trim_end_matches('.').to_ascii_lowercase();
    p.len() >= 3
        && ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .any(|d| p.starts_with(d))
}

fn month(p: &str) -> Option<u32> {
    let p = p.trim_end_matches('.').to_ascii_lowercase();
    if p.len() < 3 {
        return None;
    }
    const NAMES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    NAMES
        .iter()
        .position(|m| p.starts_with(m))
        .map(|i| i as u32 + 1)
}

/// Seconds east of UTC for `Z`, `GMT`, `+0100`, `-05:30`, `+05`, US zone names and military letters.
fn zone_offset(z: &str) -> Option<i64> {
    let z = z.trim().trim_matches(['(', ')']);
    if z == "Z" || z == "z" {
        // The zone most feeds write, without the upper-cased copy below.
        return Some(0);
    }
    if let Some(sign) = z.chars().next().filter(|c| *c == '+' || *c == '-') {
        let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
        let (h, m) = match digits.len() {
            1 | 2 => (digits.parse::<i64>().ok()?, 0),
            3 => (
                digits[..1].parse::<i64>().ok()?,
                digits[1..].parse::<i64>().ok()?,
            ),
            4 => (
                digits[..2].parse::<i64>().ok()?,
                digits[2..].parse::<i64>().ok()?,
            ),
            _ => return None,
        };
        let secs = h * 3600 + m * 60;
        return Some(if sign == '-' { -secs } else { secs });
    }
    let hours = match z.to_ascii_uppercase().as_str() {
        "Z" | "UT" | "UTC" | "GMT" | "WET" => 0,
        "EST" => -5,
        "EDT" => -4,
        "CST" => -6,
        "CDT" => -5,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        "AST" => -4,
        "ADT" => -3,
        "HST" => -10,
        "AKST" => -9,
        "AKDT" => -8,
        "BST" | "CET" | "MET" | "WEST" => 1,
        "CEST" | "MEST" | "EET" => 2,
        "EEST" => 3,
        "JST" | "KST" => 9,
        "AEST" => 10,
        "AEDT" => 11,
        "NZST" => 12,
        "NZDT" => 13,
        "IST" => return Some(19_800),
        // RFC 822 military zones: A–I, K–M east, N–Y west.
        m if m.len() == 1 => {
            let c = m.as_bytes()[0];
            match c {
                b'A'..=b'I' => i64::from(c - b'A' + 1),
                b'K'..=b'M' => i64::from(c - b'K' + 10),
                b'N'..=b'Y' => -i64::from(c - b'N' + 1),
                _ => return None,
            }
        }
        // GMT+1, UTC-05:00
        m if m.starts_with("GMT") || m.starts_with("UTC") => return zone_offset(&z[3..]),
        _ => return None,
    };
    Some(hours * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> String {
        parse_date(s)
            .map(|d| d.to_rfc3339())
            .unwrap_or_else(|| "none".into())
    }

    #[test]
    fn rfc822_dates_with_odd_zones_and_short_years() {
        assert_eq!(
            iso("Thu, 01 Jan 2004 19:48:21 GMT"),
            "2004-01-01T19:48:21+00:00"
        );
        assert_eq!(
            iso("Thu, 01 Jan 04 19:48:21 EST"),
            "2004-01-02T00:48:21+00:00"
        );
        assert_eq!(
            iso("Thu,01 Jan 2004 19:48 +0530"),
            "2004-01-01T14:18:00+00:00"
        );
        assert_eq!(
            iso("1 January 2004 19:48:21 -05:00"),
            "2004-01-02T00:48:21+00:00"
        );
        assert_eq!(iso("Thu, 01 Jan 2004"), "2004-01-01T00:00:00+00:00");
        assert_eq!(
            iso("Thu, 01 Jan 2004 19:48:21 Z"),
            "2004-01-01T19:48:21+00:00"
        );
        assert_eq!(
            iso("Thu, 01 Jan 2004 19:48:21 N"),
            "2004-01-01T20:48:21+00:00"
        );
    }

    #[test]
    fn w3cdtf_and_iso8601_variants() {
        assert_eq!(iso("2003-12-31T10:14:55Z"), "2003-12-31T10:14:55+00:00");
        assert_eq!(
            iso("2003-12-31T10:14:55.25-08:00"),
            "2003-12-31T18:14:55.250+00:00"
        );
        assert_eq!(iso("20031231T101455Z"), "2003-12-31T10:14:55+00:00");
        assert_eq!(iso("2003-12-31 10:14+01"), "2003-12-31T09:14:00+00:00");
        assert_eq!(iso("2003-12"), "2003-12-01T00:00:00+00:00");
        assert_eq!(iso("2003"), "2003-01-01T00:00:00+00:00");
        assert_eq!(iso("2003-12-31T24:00:00Z"), "2004-01-01T00:00:00+00:00");
    }

    #[test]
    fn asctime_and_garbage() {
        assert_eq!(
            iso("Sun Jan  4 16:29:06 PST 2004"),
            "2004-01-05T00:29:06+00:00"
        );
        assert_eq!(iso("not a date"), "none");
        assert_eq!(iso("2003-13-45"), "none");
    }
}
