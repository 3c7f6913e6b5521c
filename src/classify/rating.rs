//! A review's star rating as classifier evidence, kept apart from the text scoring so the rest
//! of the classifier can change without touching it. One or two stars are strong complaint
//! evidence (a customer rarely gives one star to a product they are happy with, whatever the
//! words say); five stars back praise when the words say nothing either way.

use std::borrow::Cow;

use super::{Classification, Label, Polarity, Reason};

/// Sentiment a one- or two-star review gets at most, and a five-star review at least.
const RATED_SENTIMENT: f32 = 0.5;

/// Folds `rating` (1 to 5 stars; `None` for posts and comments) into `out`, after the text
/// has been scored.
pub(crate) fn apply_rating(rating: Option<u8>, out: &mut Classification) {
    let Some(stars) = rating.filter(|s| (1..=5).contains(s)) else {
        return;
    };
    let reason = |kind: &'static str| Reason {
        kind: Cow::Borrowed(kind),
        cue: Cow::Borrowed("rating"),
        text: format!("{stars} of 5 stars"),
        start: 0,
        end: 0,
    };
    match stars {
        1 | 2 => {
            // A question in a bad review stays a question: it still needs an answer first.
            if out.label != Label::Question {
                out.label = Label::Complaint;
            }
            out.sentiment = out.sentiment.min(-RATED_SENTIMENT);
            out.polarity = Polarity::Negative;
            out.reasons.push(reason("complaint"));
        }
        5 if out.label == Label::Neutral => {
            out.label = Label::Praise;
            out.sentiment = out.sentiment.max(RATED_SENTIMENT);
            out.polarity = Polarity::Positive;
            out.reasons.push(reason("praise"));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Classifier, Input};
    use super::*;

    fn judge(text: &str, rating: Option<u8>) -> Classification {
        Classifier::embedded().classify(&Input {
            rating,
            ..Input::new(text)
        })
    }

    #[test]
    fn one_or_two_stars_make_a_polite_review_a_complaint() {
        let text = "Ik gebruik de app elke dag om mijn facturen te bekijken.";
        assert_ne!(judge(text, None).label, Label::Complaint);
        for stars in [1, 2] {
            let c = judge(text, Some(stars));
            assert_eq!(c.label, Label::Complaint, "{stars} stars");
            assert!(c.sentiment <= -RATED_SENTIMENT);
            assert!(
                c.reasons
                    .iter()
                    .any(|r| r.cue == "rating" && r.text == format!("{stars} of 5 stars"))
            );
        }
    }

    #[test]
    fn middling_stars_leave_the_text_to_decide_and_five_back_praise() {
        let text = "Ik gebruik de app elke dag om mijn facturen te bekijken.";
        let plain = judge(text, None);
        assert_eq!(judge(text, Some(3)).label, plain.label);
        assert_eq!(judge(text, Some(4)).label, plain.label);
        if plain.label == Label::Neutral {
            assert_eq!(judge(text, Some(5)).label, Label::Praise);
        }
        let question = judge("Hoe kan ik mijn wachtwoord wijzigen in de app?", Some(1));
        assert_eq!(question.label, Label::Question);
    }
}
