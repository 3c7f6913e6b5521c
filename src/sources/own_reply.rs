//! The brand's own replies: what a source reports when one of the brand's accounts answered a
//! post, so the store can mark the mention answered instead of keeping the reply as a mention.
//!
//! A source that sees threads recognises its `own_accounts` with [`is_own`], leaves their posts
//! out of [`Batch::mentions`](super::Batch) and reports each reply as an [`OwnReply`] naming the
//! post it answers. The store applies it in the poll's transaction, also when the answered post
//! arrives only in a later poll.

use chrono::{DateTime, Utc};

/// One reply by one of the brand's accounts to a post of the same source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnReply {
    /// External id of the post that was answered: the `external_id` its mention has (or will
    /// have) in the same source.
    pub parent: String,
    /// The brand account that replied, as the platform names it (a handle without `@`, a
    /// channel or page name); it becomes the mention's `answered_by`.
    pub account: String,
    /// When the reply was posted; it becomes the mention's `answered_at`.
    pub at: DateTime<Utc>,
}

/// True when `name` (a handle, username or account id, with or without a leading `@`) is one
/// of `own_accounts`. Platforms treat handles case-insensitively, so this does too.
pub fn is_own(name: &str, own_accounts: &[String]) -> bool {
    let name = name.trim().trim_start_matches('@');
    !name.is_empty()
        && own_accounts
            .iter()
            .any(|o| o.trim().trim_start_matches('@').eq_ignore_ascii_case(name))
}

/// The configured account `name` matched, spelt as in `own_accounts` (without `@`), so every
/// reply of one account is answered by the same name whatever case the platform used.
pub fn own_name(name: &str, own_accounts: &[String]) -> Option<String> {
    let name = name.trim().trim_start_matches('@');
    own_accounts
        .iter()
        .map(|o| o.trim().trim_start_matches('@'))
        .find(|o| !name.is_empty() && o.eq_ignore_ascii_case(name))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_accounts_match_without_at_sign_and_case() {
        let own = vec!["@FjordlinkCare".to_string(), "fjordlink".to_string()];
        assert!(is_own("fjordlinkcare", &own));
        assert!(is_own("@Fjordlink", &own));
        assert!(!is_own("fjordlink_fan", &own));
        assert!(!is_own("", &own));
        assert!(!is_own("@", &own));
        assert_eq!(
            own_name("FJORDLINKCARE", &own).as_deref(),
            Some("FjordlinkCare")
        );
        assert_eq!(own_name("someone", &own), None);
    }
}
