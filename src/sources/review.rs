//! What the review sources (App Store, Google Play, Trustpilot, Google Business Profile) share:
//! each reads a review from its platform's own shape into a [`Mention`], and every review is
//! then held to the same rules, so a one-star review reads the same whichever store it came from.

use super::Mention;

impl Mention {
    /// This mention, a review read as its platform sent it, with `stars` as its rating; title,
    /// text and author name trimmed (a blank title or name counts as none), and the name used
    /// as the handle too: review platforms give no other. `None` when the stars are not 1 to 5,
    /// or when there is neither title nor text: nothing to read or answer in an alert.
    pub(crate) fn into_review(mut self, stars: Option<u8>) -> Option<Mention> {
        self.rating = Some(stars.filter(|s| (1..=5).contains(s))?);
        let trimmed = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        self.title = self.title.and_then(trimmed);
        self.text = self.text.trim().to_string();
        if self.text.is_empty() && self.title.is_none() {
            return None;
        }
        self.author_name = self.author_name.and_then(trimmed);
        self.author_handle = self.author_name.clone();
        Some(self)
    }
}
