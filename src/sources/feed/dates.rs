//! Feed dates in the forms publishers really write: RFC 822 with two- or four-digit years,
//! missing seconds, named and military zones, and day and month names in Dutch, Danish,
//! German, French, Italian, Spanish and Portuguese; W3CDTF and the ISO 8601 variants (basic
//! and extended, one-digit fields, `/` for `-`, date only, fractional seconds, `+hh`,
//! `+hhmm`); the asctime form; and Unix seconds.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// Parses one date as a feed writes it; `None` when it is not a date webcare can read.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.as_bytes()[0].is_ascii_digit() {
        if let Some(d) = parse_iso(s) {
            return Some(d);
        }
        // Unix seconds, as some generators write them: 1995 to 2100 only.
        if (9..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse::<i64>()
                .ok()
                .filter(|t| (788_918_400..4_102_444_800).contains(t))
                .and_then(|t| DateTime::from_timestamp(t, 0));
        }
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
    // A field after a separator: two digits, or one (`2006-1-7T12:35:9`, which feedparser
    // reads too).
    let field = |i: &mut usize| -> Option<u32> {
        let two = b.get(*i + 1).is_some_and(u8::is_ascii_digit);
        num(i, if two { 2 } else { 1 })
    };
    let year = num(&mut i, 4)? as i32;
    let mut month = 1;
    let mut day = 1;
    // `2020/1/10` as well as `2020-01-10`.
    let sep = b.get(i).copied().filter(|c| *c == b'-' || *c == b'/');
    if let Some(sep) = sep {
        i += 1;
        month = field(&mut i)?;
        if b.get(i) == Some(&sep) {
            i += 1;
            day = field(&mut i)?;
        }
    } else if b.get(i).is_some_and(u8::is_ascii_digit) {
        month = num(&mut i, 2)?;
        day = num(&mut i, 2)?;
    }
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0u32);
    if matches!(b.get(i), Some(b'T' | b't' | b' ')) && b.get(i + 1).is_some_and(u8::is_ascii_digit)
    {
        i += 1;
        hour = field(&mut i)?;
        let colon = b.get(i) == Some(&b':');
        if colon {
            i += 1;
        }
        if b.get(i).is_some_and(u8::is_ascii_digit) {
            minute = if colon {
                field(&mut i)?
            } else {
                num(&mut i, 2)?
            };
            if b.get(i) == Some(&b':') || (!colon && b.get(i).is_some_and(u8::is_ascii_digit)) {
                let colon = b.get(i) == Some(&b':');
                if colon {
                    i += 1;
                }
                second = if colon {
                    field(&mut i)?
                } else {
                    num(&mut i, 2)?
                };
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
    // A leading word that is no month is the weekday, in whatever language (`mer`, `Seg`).
    if parts.first().is_some_and(|p| {
        weekday(p)
            || (p.trim_end_matches('.').chars().all(char::is_alphabetic) && month(p).is_none())
    }) {
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

/// A month's number from its name or abbreviation in English or, as European sites write
/// them, Dutch, Danish, German, French, Italian, Spanish or Portuguese.
fn month(p: &str) -> Option<u32> {
    let p = p.trim_end_matches('.').to_lowercase();
    if p.chars().count() < 3 {
        return None;
    }
    // Longer prefixes first where a shorter one would name another month (`juin`, `juil`).
    const NAMES: [(&str, u32); 35] = [
        ("juin", 6),
        ("juil", 7),
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
        ("gen", 1),
        ("ene", 1),
        ("fév", 2),
        ("fev", 2),
        ("mrt", 3),
        ("mär", 3),
        ("maa", 3),
        ("avr", 4),
        ("abr", 4),
        ("mei", 5),
        ("maj", 5),
        ("mai", 5),
        ("mag", 5),
        ("giu", 6),
        ("lug", 7),
        ("aoû", 8),
        ("ago", 8),
        ("set", 9),
        ("okt", 10),
        ("ott", 10),
        ("out", 10),
    ];
    const MORE: [(&str, u32); 4] = [("déc", 12), ("dez", 12), ("dic", 12), ("aou", 8)];
    NAMES
        .iter()
        .chain(MORE.iter())
        .find(|(name, _)| p.starts_with(name))
        .map(|(_, n)| *n)
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
    fn one_digit_fields_slashes_and_unix_seconds() {
        assert_eq!(iso("2006-01-17T12:35:9+01:00"), "2006-01-17T11:35:09+00:00");
        assert_eq!(iso("2006-1-7T2:5:09Z"), "2006-01-07T02:05:09+00:00");
        assert_eq!(iso("2020/1/10 14:33:00"), "2020-01-10T14:33:00+00:00");
        assert_eq!(iso("1668555495"), "2022-11-15T23:38:15+00:00");
        assert_eq!(iso("42"), "none");
    }

    #[test]
    fn day_and_month_names_of_european_sites() {
        assert_eq!(
            iso("mer, 16 nov 2022 00:38:15 +0100"),
            "2022-11-15T23:38:15+00:00"
        );
        assert_eq!(
            iso("Seg, 24 Set 2018 19:42:40 -0300"),
            "2018-09-24T22:42:40+00:00"
        );
        assert_eq!(
            iso("wo, 3 mrt 2021 09:00:00 +0100"),
            "2021-03-03T08:00:00+00:00"
        );
        assert_eq!(
            iso("tor, 6 maj 2021 10:00 +0200"),
            "2021-05-06T08:00:00+00:00"
        );
        assert_eq!(
            iso("Mo, 22 Dez 2025 10:00:00 GMT"),
            "2025-12-22T10:00:00+00:00"
        );
        assert_eq!(
            iso("ven., 3 déc. 2021 10:00 GMT"),
            "2021-12-03T10:00:00+00:00"
        );
        assert_eq!(iso("1 juin 2021"), "2021-06-01T00:00:00+00:00");
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
