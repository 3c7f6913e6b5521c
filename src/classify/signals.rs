//! Store signals: what the classifier cannot see in one text but the store can count — the
//! same text posted by several authors (a campaign) and a thread that is growing fast. They
//! are applied on top of a finished verdict, so the store can add them after the fact.

use super::{Classification, Classifier, Input, Label, Reason, Urgency};

/// The spam reason a campaign gets; it has no span because no single cue decided it.
pub(crate) const SAME_TEXT: &str = "same text from several authors";
/// How an urgency reason for a fast-growing thread starts.
const FAST_THREAD: &str = "fast-growing thread";

impl Classifier {
    /// Applies the store signals of `input` (`duplicate_authors`, `thread_replies_last_hour`)
    /// to a verdict made without them. The result is what [`classify`](Self::classify) would
    /// have said with the signals set, and applying it twice changes nothing. Returns whether
    /// the verdict changed.
    ///
    /// A campaign (at least [`duplicate_authors`](Self::duplicate_authors) authors) turns the
    /// mention into spam (label `neutral`, not urgent), unless it is a complaint or question:
    /// then it is a protest the team must see, and the verdict only notes the campaign. A thread with at least
    /// [`fast_thread`](Self::fast_thread) replies in the last hour makes a complaint or question
    /// urgent.
    pub fn apply_signals(&self, out: &mut Classification, input: &Input) -> bool {
        let mut changed = false;
        let campaign = input
            .duplicate_authors
            .filter(|&n| n >= self.duplicate_authors);
        if campaign.is_some()
            && !out.spam
            && matches!(out.label, Label::Complaint | Label::Question)
        {
            // Many customers posting the same complaint is a coordinated action the team must
            // see (the notifier folds the copies into one alert), not spam.
            if !out.reasons.iter().any(|r| r.cue == SAME_TEXT) {
                out.reasons.push(Reason {
                    kind: "campaign".into(),
                    cue: SAME_TEXT.into(),
                    ..Reason::default()
                });
                changed = true;
            }
        } else if campaign.is_some() && !out.spam {
            out.spam = true;
            out.label = Label::Neutral;
            out.urgency = Urgency::Normal;
            out.urgency_reasons.clear();
            out.reasons.push(Reason {
                kind: "spam".into(),
                cue: SAME_TEXT.into(),
                ..Reason::default()
            });
            changed = true;
        }
        if let Some(n) = input
            .thread_replies_last_hour
            .filter(|&n| n >= self.fast_thread)
            && !out.spam
            && matches!(out.label, Label::Complaint | Label::Question)
        {
            let why = format!("{FAST_THREAD}: {n} replies in the last hour");
            match out
                .urgency_reasons
                .iter_mut()
                .find(|r| r.starts_with(FAST_THREAD))
            {
                Some(old) if *old == why => {}
                Some(old) => {
                    *old = why;
                    changed = true;
                }
                None => {
                    out.urgency_reasons.push(why);
                    changed = true;
                }
            }
            out.urgency = Urgency::Urgent;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(text: &str, dup: Option<u32>, thread: Option<u32>) -> Input<'_> {
        Input {
            duplicate_authors: dup,
            thread_replies_last_hour: thread,
            ..Input::new(text)
        }
    }

    #[test]
    fn signals_added_later_give_the_same_verdict_as_signals_given_up_front() {
        let c = Classifier::embedded();
        for (text, dup, thread) in [
            ("Thanks Fjordlink, the new router is great", Some(4), None),
            ("De app werkt weer niet, al drie dagen", None, Some(30)),
            ("Hoe kan ik mijn abonnement opzeggen?", None, Some(25)),
            ("De app werkt weer niet, al drie dagen", Some(3), Some(30)),
        ] {
            let up_front = c.classify(&with(text, dup, thread));
            let mut later = c.classify(&Input::new(text));
            assert!(
                c.apply_signals(&mut later, &with(text, dup, thread)),
                "{text}"
            );
            assert_eq!(later, up_front, "{text}");
        }
    }

    #[test]
    fn praise_posted_word_for_word_by_three_authors_is_spam() {
        let c = Classifier::embedded();
        let text = "Fjordlink just brought fibre to our whole street, best provider in Zwolle";
        let mut v = c.classify(&Input::new(text));
        assert!(!v.spam);
        assert!(!c.apply_signals(&mut v.clone(), &with(text, Some(2), None)));
        assert!(c.apply_signals(&mut v, &with(text, Some(3), None)));
        assert!(v.spam);
        assert_eq!(v.label, Label::Neutral);
        assert_eq!(v.urgency, Urgency::Normal);
        assert!(v.urgency_reasons.is_empty());
        assert_eq!(v.reasons.last().map(|r| r.cue.as_ref()), Some(SAME_TEXT));
    }

    #[test]
    fn the_same_complaint_from_three_authors_is_a_campaign_not_spam() {
        let c = Classifier::embedded();
        let text = "Fjordlink is het ergste bedrijf ooit, ik stap over!!!";
        let mut v = c.classify(&Input::new(text));
        assert_eq!(v.label, Label::Complaint);
        assert!(c.apply_signals(&mut v, &with(text, Some(3), None)));
        assert!(!v.spam);
        assert_eq!(v.label, Label::Complaint);
        assert_eq!(
            v.reasons.last().map(|r| (r.kind.as_ref(), r.cue.as_ref())),
            Some(("campaign", SAME_TEXT))
        );
        assert!(
            !c.apply_signals(&mut v, &with(text, Some(4), None)),
            "noted once"
        );
    }

    #[test]
    fn a_fast_thread_makes_complaints_urgent_once_but_leaves_praise_alone() {
        let c = Classifier {
            fast_thread: 5,
            ..Classifier::embedded()
        };
        let complaint = "Mijn pakket is al twee weken onderweg";
        let mut v = c.classify(&Input::new(complaint));
        assert_eq!((v.label, v.urgency), (Label::Complaint, Urgency::Normal));
        assert!(!c.apply_signals(&mut v, &with(complaint, None, Some(4))));
        assert!(c.apply_signals(&mut v, &with(complaint, None, Some(5))));
        assert_eq!(v.urgency, Urgency::Urgent);
        assert_eq!(
            v.urgency_reasons,
            ["fast-growing thread: 5 replies in the last hour"]
        );
        // Again with the same count: nothing to do. With a new count: the reason follows.
        assert!(!c.apply_signals(&mut v, &with(complaint, None, Some(5))));
        assert!(c.apply_signals(&mut v, &with(complaint, None, Some(9))));
        assert_eq!(
            v.urgency_reasons,
            ["fast-growing thread: 9 replies in the last hour"]
        );

        let praise = "Geweldige service, dank jullie wel!";
        let mut p = c.classify(&Input::new(praise));
        assert!(!c.apply_signals(&mut p, &with(praise, None, Some(50))));
        assert_eq!(p.urgency, Urgency::Normal);
    }
}
