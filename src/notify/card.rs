//! The alert card: what an agent must take in within five seconds (how urgent and why, what
//! kind of post, where and when, who, the button to answer), in words rather than codes, laid
//! out as a table with inline styles so Outlook, Gmail and Apple Mail show the same thing. The
//! HTML comes from `templates/mail/alert.html` through askama, which escapes every value, so a
//! mention cannot inject markup; the plain-text part says the same in the same order.

use askama::Template;
use chrono::{DateTime, Utc};

use super::mail::{AlertView, safe_link};

/// A one-click action shown as a button next to "Answer" (for example "Mark answered" from the
/// web inbox). The URL must be a web link; anything else is not shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionLink {
    /// The button's label.
    pub label: String,
    /// Where it leads.
    pub url: String,
}

/// A folded duplicate, as the card lists it.
pub struct DuplicateLine {
    /// Who posted it where: "@handle on source (mention #N)".
    pub who: String,
    /// Its web link, if it has one.
    pub url: Option<String>,
    /// The whole line of the text part, link included.
    pub line: String,
}

/// The alert as both parts show it: `templates/mail/alert.html` renders the card, and
/// [`AlertText`] the text part from the same values in the same order.
#[derive(Template)]
#[template(path = "mail/alert.html")]
struct AlertCard<'a> {
    subject: &'a str,
    do_not_contact: bool,
    banner: String,
    banner_bg: &'static str,
    label: String,
    /// The label as the classifier names it ("complaint").
    raw_label: &'a str,
    /// Name, handle and reach joined, or "unknown author".
    who: String,
    /// The link as given, web address or not.
    url: Option<&'a str>,
    platform: String,
    site: Option<String>,
    posted: String,
    /// A review's star rating, as stars and in words.
    stars: Option<String>,
    author_name: Option<String>,
    handle: Option<String>,
    reach: Option<String>,
    title: Option<String>,
    text: String,
    answer_url: Option<String>,
    no_link: String,
    actions: Vec<ActionLink>,
    sentiment: &'static str,
    language: Option<String>,
    deciding: Vec<String>,
    all_reasons: Vec<String>,
    in_reply_to: Option<String>,
    watches: String,
    copies: String,
    duplicates: Vec<DuplicateLine>,
    team: &'a str,
    rule: &'a str,
    rule_why: String,
    mention_id: i64,
}

text_part!(AlertText over AlertCard<'a>, "mail/alert.txt");

/// The platform's name for a source kind.
pub fn platform_name(kind: &str) -> String {
    match kind {
        "x" => "X".into(),
        "rss" => "RSS feed".into(),
        "mastodon" => "Mastodon".into(),
        "bluesky" => "Bluesky".into(),
        "reddit" => "Reddit".into(),
        "youtube" => "YouTube".into(),
        "hackernews" => "Hacker News".into(),
        "facebook_page" | "facebook" => "Facebook".into(),
        "instagram" => "Instagram".into(),
        "app_store" => "App Store".into(),
        "trustpilot" => "Trustpilot".into(),
        "google_play" => "Google Play".into(),
        "google_business" => "Google Business Profile".into(),
        "threads" => "Threads".into(),
        "" => "the web".into(),
        other => other.replace('_', " "),
    }
}

/// A language's English name for its ISO 639-1 code; the code itself when unknown.
pub fn language_name(code: &str) -> String {
    match code.to_ascii_lowercase().as_str() {
        "nl" => "Dutch".into(),
        "en" => "English".into(),
        "da" => "Danish".into(),
        "de" => "German".into(),
        "fr" => "French".into(),
        "es" => "Spanish".into(),
        "sv" => "Swedish".into(),
        "nb" | "no" => "Norwegian".into(),
        "fi" => "Finnish".into(),
        "it" => "Italian".into(),
        "pt" => "Portuguese".into(),
        "pl" => "Polish".into(),
        _ => code.to_string(),
    }
}

/// Sentiment in words.
pub fn sentiment_words(s: f64) -> &'static str {
    match s {
        s if s <= -0.6 => "very negative",
        s if s <= -0.2 => "negative",
        s if s < 0.2 => "neutral",
        s if s < 0.6 => "positive",
        _ => "very positive",
    }
}

/// When it was posted, in the team's time zone and relative to `now`: "18:05, 12 min ago"
/// (today), "Tue 30 Nov 18:05, 2 days ago" otherwise.
pub fn posted_line(a: &AlertView) -> String {
    let at = a.mention.created_at;
    let now = DateTime::<Utc>::from_timestamp(a.now, 0).unwrap_or(at);
    let tz = a.tz.unwrap_or(chrono_tz::UTC);
    let local = at.with_timezone(&tz);
    let today = now.with_timezone(&tz).date_naive() == local.date_naive();
    let clock = if today {
        local.format("%H:%M").to_string()
    } else {
        local.format("%a %-d %b %H:%M").to_string()
    };
    let mins = (now - at).num_minutes();
    let ago = match mins {
        m if m < 1 => "just now".to_string(),
        m if m < 60 => format!("{m} min ago"),
        m if m < 48 * 60 => format!("{} h ago", m / 60),
        m => format!("{} days ago", m / (24 * 60)),
    };
    let zone = if tz == chrono_tz::UTC {
        " UTC".to_string()
    } else {
        String::new()
    };
    format!("{clock}{zone}, {ago}")
}

/// The label in words, capitalised.
fn label_words(label: &str) -> String {
    let mut c = label.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c)
            .collect::<String>()
            .replace('_', " "),
        None => "Mention".into(),
    }
}

/// `cue: "text"` lines of one kind ("urgent") as `cue — text and text`, first cue first.
fn cue_summary(lines: &[&str]) -> Option<String> {
    let mut cue_of_first: Option<&str> = None;
    let mut texts: Vec<String> = Vec::new();
    for l in lines {
        let (cue, text) = l.split_once(": ").unwrap_or((l, ""));
        if cue_of_first.is_none() {
            cue_of_first = Some(cue);
        }
        if Some(cue) == cue_of_first && !text.is_empty() {
            texts.push(text.trim_matches('"').to_string());
        }
    }
    let cue = cue_of_first?;
    Some(if texts.is_empty() {
        cue.to_string()
    } else {
        format!("{cue} — {}", texts.join(" and "))
    })
}

/// The banner's words and colour: urgency and its reason, or the label and what decided it.
pub fn banner(a: &AlertView) -> (String, &'static str) {
    let urgent: Vec<&str> = a
        .reasons
        .iter()
        .filter_map(|r| r.strip_prefix("urgent: "))
        .collect();
    if a.urgent {
        let why = cue_summary(&urgent)
            .map(|w| format!(": {w}"))
            .unwrap_or_default();
        return (format!("Urgent{why}"), "#b42318");
    }
    let colour = match a.label.as_str() {
        "complaint" => "#c4320a",
        "question" => "#1849a9",
        "praise" => "#067647",
        _ => "#475467",
    };
    let first = a
        .reasons
        .iter()
        .find(|r| !r.starts_with("urgent: "))
        .and_then(|r| {
            // `kind: "text" (cue)` → `cue — text`
            let (_, rest) = r.split_once(": ")?;
            match rest.rsplit_once(" (") {
                Some((text, cue)) => Some(format!(
                    "{} — {}",
                    cue.trim_end_matches(')'),
                    text.trim_matches('"')
                )),
                None => Some(rest.to_string()),
            }
        });
    let words = label_words(&a.label);
    (
        match first {
            Some(f) => format!("{words}: {f}"),
            None => words,
        },
        colour,
    )
}

/// The two or three reasons that decided: urgency first, then the label's strongest.
pub fn deciding_reasons(reasons: &[String]) -> Vec<String> {
    let mut out: Vec<String> = reasons
        .iter()
        .filter(|r| r.starts_with("urgent: "))
        .take(2)
        .cloned()
        .collect();
    out.extend(
        reasons
            .iter()
            .filter(|r| !r.starts_with("urgent: "))
            .take(3 - out.len())
            .cloned(),
    );
    out
}

/// Author name and handle kept apart; the handle with `@` only where the platform has them.
pub fn author_parts(a: &AlertView) -> (Option<String>, Option<String>) {
    let handle = a.mention.author_handle.as_deref().map(|h| {
        if a.platform == "rss" || h.contains(char::is_whitespace) {
            h.to_string()
        } else {
            format!("@{}", h.trim_start_matches('@'))
        }
    });
    match (&a.mention.author_name, handle) {
        (Some(n), Some(h)) if h.trim_start_matches('@') == n => (Some(n.clone()), None),
        (n, h) => (n.clone(), h),
    }
}

/// The site a link points to ("forum.example"), for the card's "where".
pub fn site_of(url: Option<&str>) -> Option<String> {
    let u = url::Url::parse(safe_link(url)?).ok()?;
    u.host_str()
        .map(|h| h.trim_start_matches("www.").to_string())
}

/// A review's star rating as a person reads it at a glance: "★☆☆☆☆ 1 of 5 stars"; `None`
/// outside 1 to 5.
pub fn stars(rating: u8) -> Option<String> {
    let n = usize::from(rating);
    (1..=5)
        .contains(&n)
        .then(|| format!("{}{} {rating} of 5 stars", "★".repeat(n), "☆".repeat(5 - n)))
}

/// Followers in words.
pub fn reach_words(reach: Option<i64>) -> Option<String> {
    reach.map(|r| match r {
        1 => "1 follower".into(),
        r if r >= 10_000 => format!("{:.0}k followers", r as f64 / 1000.0),
        r => format!("{r} followers"),
    })
}

/// The alert as HTML and as text, in that order. `subject` is the mail's subject (the page
/// title); `text` the mention text as shown (already cut).
pub fn render(
    a: &AlertView,
    subject: &str,
    text: &str,
    copies: String,
    duplicates: Vec<DuplicateLine>,
) -> (String, String) {
    let m = &a.mention;
    let (banner, banner_bg) = banner(a);
    let (author_name, handle) = author_parts(a);
    let platform = platform_name(&a.platform);
    let card = AlertCard {
        subject,
        do_not_contact: a.do_not_contact,
        banner,
        banner_bg,
        label: label_words(&a.label),
        raw_label: &a.label,
        who: {
            let who: Vec<String> = [
                author_name.clone(),
                handle.clone(),
                reach_words(m.author_reach),
            ]
            .into_iter()
            .flatten()
            .collect();
            if who.is_empty() {
                "unknown author".into()
            } else {
                who.join(" · ")
            }
        },
        url: m.url.as_deref(),
        site: site_of(m.url.as_deref()),
        posted: posted_line(a),
        stars: m.rating.and_then(stars),
        author_name,
        handle,
        reach: reach_words(m.author_reach),
        title: m.title.clone(),
        text: text.to_string(),
        answer_url: safe_link(m.url.as_deref()).map(str::to_string),
        no_link: match &m.url {
            Some(u) => format!("{u} is not a web address"),
            None => "the platform did not give one".into(),
        },
        actions: a
            .actions
            .iter()
            .filter(|l| safe_link(Some(&l.url)).is_some())
            .cloned()
            .collect(),
        sentiment: sentiment_words(a.sentiment),
        language: a.lang.as_deref().map(language_name),
        deciding: deciding_reasons(&a.reasons),
        all_reasons: a.reasons.clone(),
        in_reply_to: m.in_reply_to.clone(),
        watches: a.watches.join(", "),
        copies,
        duplicates,
        team: &a.team,
        rule: &a.rule,
        rule_why: a.rule_why.join("; "),
        mention_id: a.mention_id,
        platform,
    };
    // Rendering fails only on a formatter error, which String writing never returns.
    let html = card.render().unwrap_or_default();
    let text = AlertText { page: &card }.render().unwrap_or_default();
    (html, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Mention;

    #[test]
    fn the_banner_says_why_in_words() {
        let a = AlertView {
            urgent: true,
            label: "complaint".into(),
            reasons: vec![
                "urgent: safety: \"sparks\"".into(),
                "urgent: safety: \"burning smell\"".into(),
                "complaint: \"kapot\" (failure)".into(),
            ],
            ..Default::default()
        };
        assert_eq!(banner(&a).0, "Urgent: safety — sparks and burning smell");
        let a = AlertView {
            label: "complaint".into(),
            reasons: vec!["complaint: \"geen internet\" (failure)".into()],
            ..Default::default()
        };
        assert_eq!(banner(&a).0, "Complaint: failure — geen internet");
    }

    #[test]
    fn the_post_time_is_local_and_relative() {
        let a = AlertView {
            mention: Mention {
                created_at: "2026-11-30T17:05:00Z".parse().unwrap(),
                ..Default::default()
            },
            now: DateTime::parse_from_rfc3339("2026-11-30T17:17:00Z")
                .unwrap()
                .timestamp(),
            tz: Some(chrono_tz::Europe::Amsterdam),
            ..Default::default()
        };
        assert_eq!(posted_line(&a), "18:05, 12 min ago");
    }

    #[test]
    fn stars_read_at_a_glance_and_only_from_one_to_five() {
        assert_eq!(stars(1).as_deref(), Some("★☆☆☆☆ 1 of 5 stars"));
        assert_eq!(stars(5).as_deref(), Some("★★★★★ 5 of 5 stars"));
        assert_eq!(stars(0), None);
        assert_eq!(stars(6), None);
    }

    #[test]
    fn words_for_sentiment_and_language() {
        assert_eq!(sentiment_words(-0.8), "very negative");
        assert_eq!(sentiment_words(-0.0), "neutral");
        assert_eq!(language_name("nl"), "Dutch");
        assert_eq!(platform_name("hackernews"), "Hacker News");
    }

    #[test]
    fn review_sites_and_threads_have_their_own_names() {
        assert_eq!(platform_name("google_play"), "Google Play");
        assert_eq!(platform_name("google_business"), "Google Business Profile");
        assert_eq!(platform_name("trustpilot"), "Trustpilot");
        assert_eq!(platform_name("threads"), "Threads");
    }
}
