//! Turning a feed's bytes into text: the byte-order mark, the HTTP `charset` and the XML
//! declaration's `encoding` are tried in that order (the order feedparser uses), and the first
//! that decodes the whole body without a malformed sequence wins. One exception: a body that
//! is valid UTF-8 with non-ASCII text in it is read as UTF-8 even when it is declared in a
//! single-byte encoding (a server's `charset=ISO-8859-1` default, a copied prolog): text in
//! those encodings almost never forms valid UTF-8, and reading UTF-8 as Latin-1 stores
//! "KÃ¸benhavn" for "København", which no watch matches.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

use super::FeedError;

/// Decodes `body` to UTF-8. `http_charset` is the `charset` parameter of the response's
/// `Content-Type`, if any. Fails, naming the encodings tried, when none of the declared
/// encodings fits the bytes: guessing would store garbled text under the brand's name.
pub fn decode(body: &[u8], http_charset: Option<&str>) -> Result<String, FeedError> {
    if let Some((enc, bom_len)) = Encoding::for_bom(body) {
        return decode_strict(enc, &body[bom_len..]).ok_or_else(|| FeedError::Encoding {
            message: format!(
                "the body starts with a {} byte-order mark but is not {}",
                enc.name(),
                enc.name()
            ),
        });
    }
    let mut candidates: Vec<(&'static Encoding, String)> = Vec::new();
    let mut declared = Vec::new();
    if let Some(label) = http_charset.map(str::trim).filter(|l| !l.is_empty()) {
        declared.push(format!("HTTP charset \"{label}\""));
        if let Some(enc) = lookup(label) {
            candidates.push((enc, format!("HTTP charset \"{label}\"")));
        }
    }
    if let Some(label) = prolog_encoding(body) {
        declared.push(format!("XML declaration encoding \"{label}\""));
        if let Some(enc) = lookup(&label) {
            candidates.push((enc, format!("XML declaration encoding \"{label}\"")));
        }
    }
    // UTF-16 without a mark still starts with `<` and a zero byte.
    if candidates.is_empty() {
        if body.starts_with(b"<\0") {
            candidates.push((UTF_16LE, "UTF-16LE (detected)".into()));
        } else if body.starts_with(b"\0<") {
            candidates.push((UTF_16BE, "UTF-16BE (detected)".into()));
        }
    }
    if declared.is_empty() && candidates.is_empty() {
        // Nothing declared: XML says UTF-8; old feeds that say nothing are often windows-1252.
        if let Some(s) = decode_strict(UTF_8, body) {
            return Ok(s);
        }
        return Ok(WINDOWS_1252
            .decode_without_bom_handling(body)
            .0
            .into_owned());
    }
    for (enc, _) in &candidates {
        // A UTF-16 label on a body that is plainly ASCII-compatible (the declaration itself
        // was readable as ASCII) is a mislabel; UTF-8 is what such documents are. So is a
        // single-byte label on a body that is valid UTF-8 with non-ASCII text in it.
        let utf16_mislabel = (*enc == UTF_16LE || *enc == UTF_16BE) && !body.contains(&0);
        let utf8_mislabel =
            enc.is_single_byte() && !body.is_ascii() && std::str::from_utf8(body).is_ok();
        let enc = if utf16_mislabel || utf8_mislabel {
            UTF_8
        } else {
            *enc
        };
        if let Some(s) = decode_strict(enc, body) {
            return Ok(s);
        }
    }
    if candidates.is_empty() {
        // Only unknown labels: fall back as if nothing was declared, but only if that is clean.
        if let Some(s) = decode_strict(UTF_8, body) {
            return Ok(s);
        }
        return Err(FeedError::Encoding {
            message: format!(
                "{} is not an encoding webcare knows, and the body is not UTF-8",
                declared.join(" and ")
            ),
        });
    }
    let first_bad = first_bad_byte(candidates[0].0, body);
    Err(FeedError::Encoding {
        message: format!(
            "the body does not decode as {} (first malformed byte at offset {first_bad})",
            candidates
                .iter()
                .map(|(e, why)| format!("{} from the {why}", e.name()))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    })
}

/// The `charset` parameter of a `Content-Type` header value.
pub fn charset_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']).to_string())
    })
}

fn lookup(label: &str) -> Option<&'static Encoding> {
    let l = label.trim().to_ascii_lowercase();
    // Labels feeds use that the WHATWG list spells differently.
    let l = match l.as_str() {
        "utf8" => "utf-8",
        "cp1252" => "windows-1252",
        "cp1251" => "windows-1251",
        "cp1255" => "windows-1255",
        "sjis" | "shift-jis" | "x-sjis" => "shift_jis",
        "euc_jp" | "eucjp" => "euc-jp",
        "euc_kr" | "euckr" => "euc-kr",
        "tis620" | "tis_620" => "tis-620",
        "big5hkscs" => "big5-hkscs",
        "ucs-2" | "iso-10646-ucs-2" => "utf-16le",
        other => other,
    };
    Encoding::for_label(l.as_bytes())
}

fn decode_strict(enc: &'static Encoding, body: &[u8]) -> Option<String> {
    enc.decode_without_bom_handling_and_without_replacement(body)
        .map(|c| c.into_owned())
}

fn first_bad_byte(enc: &'static Encoding, body: &[u8]) -> usize {
    if enc == UTF_8 {
        return std::str::from_utf8(body)
            .err()
            .map(|e| e.valid_up_to())
            .unwrap_or(0);
    }
    let mut decoder = enc.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(body.len() * 3 + 16);
    let (result, read) = decoder.decode_to_string_without_replacement(body, &mut out, true);
    match result {
        encoding_rs::DecoderResult::Malformed(len, _) => read.saturating_sub(len as usize),
        _ => read,
    }
}

/// The `encoding` pseudo-attribute of an `<?xml … ?>` declaration at the start of `body`.
fn prolog_encoding(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(512)];
    let start = head.windows(5).position(|w| w == b"<?xml")?;
    let end = start + head[start..].windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[start..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = rest[1..].split(quote).next()?;
    Some(value.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_beats_every_declaration() {
        let body = b"\xEF\xBB\xBF<?xml version='1.0' encoding='iso-8859-1'?><rss>\xC3\xA9</rss>";
        let s = decode(body, Some("koi8-r")).unwrap();
        assert!(s.contains("<rss>é</rss>"), "{s}");
    }

    #[test]
    fn the_http_charset_beats_the_prolog_and_legacy_encodings_decode() {
        let body = b"<?xml version='1.0' encoding='utf-8'?><rss>\xC1\xC2</rss>";
        assert!(
            decode(body, Some("koi8-r"))
                .unwrap()
                .contains("<rss>аб</rss>")
        );
        let sjis = b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><t>\x93\xfa\x96\x7b</t>";
        assert!(decode(sjis, None).unwrap().contains("日本"));
    }

    #[test]
    fn invalid_bytes_under_a_declared_utf8_are_an_error_naming_the_offset() {
        let err = decode(
            b"<?xml version='1.0' encoding='utf-8'?><rss>caf\xE9</rss>",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("UTF-8") && err.contains("offset 46"), "{err}");
    }

    #[test]
    fn utf8_declared_as_a_single_byte_encoding_is_read_as_utf8() {
        let body = "<?xml version='1.0' encoding='ISO-8859-1'?><rss>Brøndby</rss>".as_bytes();
        assert!(decode(body, None).unwrap().contains("<rss>Brøndby</rss>"));
        assert!(
            decode(b"<rss>K\xC3\xB6ln</rss>", Some("iso-8859-1"))
                .unwrap()
                .contains("<rss>Köln</rss>")
        );
        // Real Latin-1 is not valid UTF-8, so its declaration holds.
        assert!(
            decode(b"<rss>K\xF6ln \xE6\xF8\xE5</rss>", Some("iso-8859-1"))
                .unwrap()
                .contains("<rss>Köln æøå</rss>")
        );
    }

    #[test]
    fn undeclared_latin1_falls_back_to_windows_1252() {
        assert_eq!(
            decode(b"<rss>caf\xE9</rss>", None).unwrap(),
            "<rss>café</rss>"
        );
    }

    #[test]
    fn charset_is_read_from_a_content_type() {
        assert_eq!(
            charset_of("text/xml; charset=\"ISO-8859-1\"").as_deref(),
            Some("ISO-8859-1")
        );
        assert_eq!(charset_of("application/rss+xml"), None);
    }
}
