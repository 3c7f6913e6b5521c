//! Behaviour tests for the classifier: one test per rule a webcare agent would notice, plus
//! the evaluation floor over `fixtures/eval` so a lexicon or rule change that hurts fails.

use std::path::Path;
use std::sync::OnceLock;

use super::*;

fn classifier() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(Classifier::embedded)
}

fn classify(text: &str) -> Classification {
    classifier().classify(&Input::new(text))
}

fn label(text: &str) -> Label {
    classify(text).label
}

/// Asserts that each of `texts` gets `want`, naming the text and its reasons when one does not.
fn assert_labels(want: Label, texts: &[&str]) {
    for text in texts {
        classified_as(text, want);
    }
}

/// Classifies `text`, asserting it gets `want` (naming its reasons when not), for the checks
/// that follow.
fn classified_as(text: &str, want: Label) -> Classification {
    let c = classify(text);
    assert_eq!(c.label, want, "{text}: {:?}", c.reasons);
    c
}

/// Classifies each of `texts`, asserting it gets `label` and `urgency`.
fn assert_verdicts(label: Label, urgency: Urgency, texts: &[&str]) {
    for text in texts {
        let c = classified_as(text, label);
        assert_eq!(c.urgency, urgency, "{text}: {:?}", c.reasons);
    }
}

/// Whether any reason of `c` calls it sarcasm.
fn sarcastic(c: &Classification) -> bool {
    c.reasons.iter().any(|r| r.kind == "sarcasm")
}

/// Classifies each of `texts`, asserting it gets `label` and is (or is not) read as sarcasm.
fn assert_sarcasm(sarcasm: bool, label: Label, texts: &[&str]) {
    for text in texts {
        assert_eq!(sarcastic(&classified_as(text, label)), sarcasm, "{text}");
    }
}

/// Whether any reason of `c` names `cue`.
fn cites(c: &Classification, cue: &str) -> bool {
    c.reasons.iter().any(|r| r.cue == cue)
}

fn has_reason(c: &Classification, kind: &str, text: &str) -> bool {
    c.reasons.iter().any(|r| r.kind == kind && r.text == text)
}

#[test]
fn dutch_sarcasm_lekker_dan_weer_vertraging() {
    let c = classify("Lekker dan, weer vertraging");
    assert_eq!(c.label, Label::Complaint);
    assert_eq!(c.polarity, Polarity::Negative);
    assert!(has_reason(&c, "sarcasm", "Lekker dan"), "{:?}", c.reasons);
}

#[test]
fn danish_sarcasm_tak_for_ingenting() {
    let c = classify("Tak for ingenting DSB");
    assert_eq!(c.label, Label::Complaint);
    assert_eq!(c.lang, "da");
}

#[test]
fn english_sarcasm_praise_word_before_a_delay() {
    let c = classify("Great, another delay on the 8:15. Love it.");
    assert_eq!(c.label, Label::Complaint);
    assert!(sarcastic(&c));
}

#[test]
fn negated_praise_is_a_complaint() {
    let c = classify("Ik ben echt niet blij met jullie service");
    assert_eq!(c.label, Label::Complaint);
    let c = classify("I am not happy with the service at all");
    assert_eq!(c.label, Label::Complaint);
    assert!(c.sentiment < 0.0);
}

#[test]
fn negated_complaint_is_not_a_complaint() {
    assert_ne!(
        label("Geen vertraging vandaag, netjes op tijd!"),
        Label::Complaint
    );
    assert_ne!(
        label("Not bad at all, delivery was on time"),
        Label::Complaint
    );
}

#[test]
fn negation_does_not_cancel_a_duration() {
    assert_eq!(
        label("Vi har ikke haft varmt vand i to uger"),
        Label::Complaint
    );
    assert_eq!(
        label("We haven't had a reply for 3 weeks"),
        Label::Complaint
    );
}

#[test]
fn never_having_been_so_upset_is_the_strongest_complaint_not_a_negation() {
    for text in [
        "I have never been so disappointed with Fjordlink",
        "Ik ben nog nooit zo teleurgesteld geweest in Fjordlink",
        "Jeg har aldrig været så utilfreds med Fjordlink",
    ] {
        let c = classified_as(text, Label::Complaint);
        assert!(c.sentiment < -0.5, "{text}: {}", c.sentiment);
    }
    assert_labels(
        Label::Praise,
        &[
            "I have never been so happy with a provider",
            "Nog nooit zo goed geholpen als door Fjordlink",
            "Aldrig været så glad for en udbyder",
        ],
    );
}

#[test]
fn danish_ringe_is_to_call_unless_it_can_only_be_poor() {
    // "ringe" is both the verb (to call) and the adjective (poor); customers mostly call.
    for text in [
        "Kan jeg ringe til Fjordlink om lørdagen?",
        "Hvornår kan jeg ringe til kundeservice?",
    ] {
        let c = classified_as(text, Label::Question);
        assert!(c.sentiment >= 0.0, "{text}: {}", c.sentiment);
    }
    assert_labels(
        Label::Complaint,
        &[
            "Meget ringe service fra Fjordlink",
            "Servicen hos Fjordlink er ringe",
        ],
    );
}

#[test]
fn calling_again_and_again_and_past_failures_are_complaints() {
    assert_labels(
        Label::Complaint,
        &[
            "I called Fjordlink 3 times today and nobody picked up",
            "Ik heb vier keer naar Fjordlink gebeld",
            "Jeg har prøvet at ringe til Fjordlink tre gange i dag",
            "De app van Fjordlink werkte niet het hele weekend",
            "Dørene i toget virkede ikke",
        ],
    );
}

#[test]
fn everyday_service_failures_are_complaints_in_each_language() {
    assert_labels(
        Label::Complaint,
        &[
            "Customer service hung up on me mid call",
            "De klantenservice hing gewoon op",
            "Kundeservice lagde på midt i samtalen",
            "My contract was renewed without asking me",
            "Mit abonnement blev forlænget uden at jeg blev spurgt",
            "Ordren blev annulleret uden nogen forklaring",
            "The technician never showed up",
            "De monteur is nooit komen opdagen",
            "The router keeps restarting",
            "De router herstart steeds",
            "Routeren genstarter hele tiden",
            "The internet is unstable every single evening",
            "Het internet is elke avond instabiel",
            "Internettet er ustabilt hver eneste aften",
            "Three emails and not a single reply",
            "Drie mails gestuurd en geen enkele reactie",
            "Ingen kan fortælle mig hvornår mit internet virker igen",
        ],
    );
    assert_labels(
        Label::Complaint,
        &[
            "Great job, 4 hour window and nobody turned up",
            "My account got locked and the reset email never arrives",
            "Booking system double booked our room",
            "Mijn energierekening klopt niet en niemand belt terug",
            "Vervelend dat de app steeds uitlogt",
        ],
    );
    // Praise that names the problem it no longer has stays praise.
    assert_labels(
        Label::Praise,
        &[
            "Not a single problem since I switched to Fjordlink, great",
            "My son keeps saying how great the new Fjordlink router is",
        ],
    );
    // Asking when it works again is not thanks for a fix.
    assert_eq!(label("Hvornår virker det igen?"), Label::Question);
    assert_eq!(label("Nu virker det igen, tak for hjælpen"), Label::Praise);
}

#[test]
fn waiting_and_unanswered_cues_give_reasons_with_spans() {
    let text = "@KPN al drie dagen geen internet en geen reactie";
    let c = classify(text);
    assert_eq!(c.label, Label::Complaint);
    let r = c
        .reasons
        .iter()
        .find(|r| r.cue == "waiting")
        .expect("waiting reason");
    assert_eq!(
        (r.kind.as_ref(), r.text.as_str()),
        ("complaint", "al drie dagen")
    );
    assert_eq!(&text[r.start..r.end], "al drie dagen");
    assert!(
        c.reasons
            .iter()
            .any(|r| r.cue == "unanswered" && r.text == "geen reactie")
    );
}

#[test]
fn every_reason_span_matches_its_text() {
    for text in [
        "Wéér vertraging 😡😡 #NSfail",
        "Tak for ingenting, DSB!!",
        "Sooo disappointed :( why?",
    ] {
        for r in classify(text).reasons {
            assert_eq!(&text[r.start..r.end], r.text, "{text}");
        }
    }
}

#[test]
fn a_span_that_counts_twice_is_one_reason() {
    for text in [
        "Would not recommend",
        "Ik zou Fjordlink aan niemand aanraden",
    ] {
        let reasons = classify(text).reasons;
        for (i, r) in reasons.iter().enumerate() {
            let again = reasons[i + 1..].iter().any(|o| {
                (o.kind.as_ref(), o.cue.as_ref(), o.start, o.end)
                    == (r.kind.as_ref(), r.cue.as_ref(), r.start, r.end)
            });
            assert!(!again, "{text}: {reasons:?}");
        }
    }
}

#[test]
fn plain_question_is_a_question() {
    assert_eq!(label("Hoe kan ik mijn adres wijzigen?"), Label::Question);
    assert_eq!(
        label("Does anyone know if the store in Leeds is open on Sunday?"),
        Label::Question
    );
    assert_eq!(
        label("Hvordan skifter jeg min adgangskode?"),
        Label::Question
    );
}

#[test]
fn question_without_question_mark_by_inversion() {
    assert_eq!(
        label("Kan ik mijn pakket ook ophalen bij een servicepunt"),
        Label::Question
    );
    assert_eq!(
        label("Ved nogen om butikken i Aarhus har åbent i morgen"),
        Label::Question
    );
    // The anchored "^does anyone" (1.4) wins over its unanchored twin (0.8) at the start.
    assert_eq!(
        label("Does anyone know if Fjordlink has an outage in Leeds right now"),
        Label::Question
    );
}

#[test]
fn why_question_about_a_failure_is_a_complaint() {
    assert_eq!(
        label("Waarom werkt de app nu alweer niet?"),
        Label::Complaint
    );
    assert_eq!(
        label("Why is my parcel still not here after two weeks?"),
        Label::Complaint
    );
    assert_eq!(label("Hvorfor virker appen stadig ikke?"), Label::Complaint);
}

#[test]
fn thanks_and_compliments_are_praise() {
    assert_eq!(
        label("Super snel geholpen door jullie chat, dank jullie wel!"),
        Label::Praise
    );
    assert_eq!(label("Tusind tak for den hurtige hjælp 🙏"), Label::Praise);
    assert_eq!(
        label("Shout out to Sarah at the Leeds store, brilliant service"),
        Label::Praise
    );
}

#[test]
fn a_review_that_piles_up_praise_beside_one_fault_is_sincere() {
    // Mockery praises once; a reviewer praises again and again, and a fault beside that
    // ("the delay alerts this week") is part of the story.
    assert_sarcasm(
        false,
        Label::Praise,
        &[
            "Simple, fast, never lets me down. The delay alerts this week saved me standing on \
             a freezing platform twice. Trainline does exactly what it says.",
        ],
    );
    assert_sarcasm(
        true,
        Label::Complaint,
        &[
            "Great, another delay on the 8:15. Well done!",
            "Fantastic service as always, third outage this week. Brilliant.",
        ],
    );
}

#[test]
fn praise_that_sarcasm_also_uses_is_sincere_without_a_fault() {
    // "Love that …", "Elsker virkelig at …" and "Gefeliciteerd hoor" mock a fault as often as
    // they praise: only the fault beside them makes them sarcasm.
    assert_sarcasm(
        false,
        Label::Praise,
        &[
            "Love that the staff remembered my name, thank you",
            "Elsker virkelig at I har åbent om søndagen, tak",
            "Gefeliciteerd hoor met jullie 100 jarig bestaan!",
            "Echt knap gedaan, de nieuwe app is top",
        ],
    );
}

#[test]
fn thanks_for_a_fix_is_not_sarcasm() {
    let c = classify("Storing is opgelost, bedankt voor de snelle hulp!");
    assert_eq!(c.label, Label::Praise);
    assert!(!sarcastic(&c));
}

#[test]
fn thanks_for_a_fault_is_sarcasm_but_thanks_for_help_or_news_of_one_is_not() {
    assert_sarcasm(
        true,
        Label::Complaint,
        &[
            "@SouthwestAir thanks for losing my luggage",
            "Thanks @AmericanAir for cancelling my flight and telling nobody",
            "Bedankt voor het kwijtraken van mijn pakket, PostNL",
            "Tak for at miste min kuffert, SAS",
            "Great job losing my parcel again",
        ],
    );
    assert_sarcasm(
        false,
        Label::Praise,
        &[
            "Thanks for fixing the outage so quickly",
            "Thanks for not losing my bag this time",
            "Thanks for your help with the broken router",
            "Tak for hjælpen med min forsinkede pakke",
            // A compliment mocks only the fault it runs into.
            "Goed geholpen met mijn kapotte router, top",
        ],
    );
}

#[test]
fn still_is_waiting_unless_something_good_follows() {
    assert_labels(
        Label::Praise,
        &[
            "Still the best, every time",
            "Thanks. Still booked on the same trip. Still love you guys!",
            "nog altijd tevreden",
            "Stadig den bedste app, hver gang",
        ],
    );
    assert_labels(
        Label::Complaint,
        &[
            "Still no internet since Monday",
            "still waiting for my refund",
            "Nog steeds geen internet",
            "Stadig ingen forbindelse",
        ],
    );
}

#[test]
fn words_typed_without_apostrophes_or_danish_letters_are_read() {
    assert_labels(
        Label::Complaint,
        &[
            "your app isnt working and i take off in two hours",
            "im so dissapointed with your service",
            "De app werkt nie",
            "Norlys har haevet prisen paa min fiber",
        ],
    );
    let c = classified_as(
        "jeg har proevet at ringe tre gange, ingen svar",
        Label::Complaint,
    );
    assert_eq!(c.lang, "da");
}

#[test]
fn no_wait_is_no_complaint() {
    for text in [
        "Ingen ventetid, ingen bøvl",
        "no wait at all",
        "geen wachttijd",
    ] {
        assert_ne!(label(text), Label::Complaint, "{text}");
    }
    // A wait with a negation of its own stays one.
    assert_eq!(
        label("it was not - still don't know where my skis are"),
        Label::Complaint
    );
}

#[test]
fn a_status_quoted_back_in_scare_quotes_is_a_complaint_and_said_plainly_is_not() {
    assert_labels(
        Label::Complaint,
        &[
            "Pakken er 'leveret' ifølge PostNord. Den er ikke i postkassen.",
            "FedEx says my package was \"delivered\". It is not here.",
            "Telstra said it's been \"escalated\" five times.",
        ],
    );
    assert_ne!(label("My parcel was delivered today"), Label::Complaint);
    assert_eq!(label("Pakket is vandaag geleverd, top"), Label::Praise);
}

#[test]
fn a_problem_told_with_its_fix_is_praise_and_a_greeting_is_not() {
    assert_sarcasm(
        false,
        Label::Praise,
        &[
            "Shout out to the Starling team, card nicked at 10pm and they had it frozen and a new one ordered within 10 mins. 👌",
        ],
    );
    assert_labels(
        Label::Neutral,
        &[
            "Happy Friday from the team at PureGym! Have a great weekend 💪",
            "Norlys ønsker alle kunder en rigtig glædelig jul og et godt nytår ⭐",
        ],
    );
}

#[test]
fn praise_after_contrast_wins() {
    assert_eq!(
        label("Pakket was een dag te laat, maar de bezorger was super vriendelijk"),
        Label::Praise
    );
    assert_eq!(
        label("Great phones but the battery dies in two hours"),
        Label::Complaint
    );
}

#[test]
fn news_and_chatter_are_neutral() {
    assert_eq!(
        label("NS past vanaf december de dienstregeling aan"),
        Label::Neutral
    );
    assert_eq!(label("Just ordered a new phone from them"), Label::Neutral);
}

#[test]
fn hashtag_fail_and_elongation_count() {
    assert_eq!(label("Mijn pakket #fail"), Label::Complaint);
    let loud = classify("this is sooooo bad");
    let calm = classify("this is so bad");
    assert!(
        loud.sentiment < calm.sentiment,
        "{} vs {}",
        loud.sentiment,
        calm.sentiment
    );
}

#[test]
fn emoji_and_emoticons_carry_sentiment() {
    assert_eq!(classify("Nieuwe app 😍").polarity, Polarity::Positive);
    assert_eq!(classify("new app :(").polarity, Polarity::Negative);
}

#[test]
fn compound_words_match_their_head() {
    let c = classify("Weer een treinvertraging van 30 minuten");
    assert_eq!(c.label, Label::Complaint);
    assert!(
        c.reasons
            .iter()
            .any(|r| r.cue == "delay" && r.text == "treinvertraging")
    );
    assert_eq!(
        classify("Togforsinkelse igen i morges").label,
        Label::Complaint
    );
}

#[test]
fn threat_to_leave_is_urgent_with_reason() {
    let c = classify("Al twee weken geen internet. Ik stap over naar Ziggo");
    assert_eq!(c.urgency, Urgency::Urgent);
    assert!(
        c.urgency_reasons.iter().any(|r| r.starts_with("leave:")),
        "{:?}",
        c.urgency_reasons
    );
}

#[test]
fn lawyer_press_and_safety_are_urgent() {
    for text in [
        "Still no refund after 6 weeks, my lawyer will be in touch",
        "Dit ga ik melden bij Radar, al maanden geen oplossing",
        "Min opladeren begyndte at ryge og der kom gnister!",
        "Er komt rook uit de meterkast, niemand neemt op!",
    ] {
        assert_eq!(classify(text).urgency, Urgency::Urgent, "{text}");
    }
}

#[test]
fn high_reach_and_fast_thread_make_complaints_urgent() {
    let text = "De app werkt weer niet";
    let normal = classifier().classify(&Input {
        author_reach: Some(300),
        ..Input::new(text)
    });
    assert_eq!(normal.urgency, Urgency::Normal);
    let big = classifier().classify(&Input {
        author_reach: Some(250_000),
        ..Input::new(text)
    });
    assert_eq!(big.urgency_reasons, ["high reach: 250000 followers"]);
    let thread = classifier().classify(&Input {
        thread_replies_last_hour: Some(45),
        ..Input::new(text)
    });
    assert_eq!(thread.urgency, Urgency::Urgent);
}

#[test]
fn praise_from_a_big_account_is_not_urgent() {
    let c = classifier().classify(&Input {
        author_reach: Some(1_000_000),
        ..Input::new("Geweldige service, dank jullie!")
    });
    assert_eq!(c.urgency, Urgency::Normal);
}

#[test]
fn giveaway_and_crypto_posts_are_spam_and_neutral() {
    let c = classify("🚀 Free crypto airdrop! Connect your wallet now https://x.co/claim");
    assert!(c.spam);
    assert_eq!(c.label, Label::Neutral);
    assert!(classify("WIN een gratis iPhone! Like en deel, tag je vrienden #giveaway").spam);
}

#[test]
fn link_only_post_is_spam_but_a_complaint_with_a_link_is_not() {
    assert!(classify("Check this https://shop.example.com/deal").spam);
    assert!(
        !classify("Mijn pakket is al 2 weken onderweg en niemand reageert https://x.co/a").spam
    );
}

#[test]
fn zero_follower_or_new_account_with_link_is_spam() {
    let text = "Nice brand, see my page www.example.com for more";
    assert!(
        !classifier()
            .classify(&Input {
                author_reach: Some(120),
                ..Input::new(text)
            })
            .spam
    );
    assert!(
        classifier()
            .classify(&Input {
                author_reach: Some(0),
                ..Input::new(text)
            })
            .spam
    );
    assert!(
        classifier()
            .classify(&Input {
                author_age_days: Some(0),
                ..Input::new(text)
            })
            .spam
    );
    let dup = classifier().classify(&Input {
        duplicate_authors: Some(7),
        ..Input::new("Great brand love it")
    });
    assert!(dup.spam);
}

#[test]
fn language_is_detected_when_not_given() {
    assert_eq!(
        classify("Waarom is mijn pakket nog niet bezorgd").lang,
        "nl"
    );
    assert_eq!(
        classify("Why has my parcel not been delivered yet").lang,
        "en"
    );
    assert_eq!(
        classify("Hvorfor er min pakke ikke blevet leveret endnu").lang,
        "da"
    );
    // Short Danish with one Dutch-looking word ("op"): "aldrig" is a Danish stopword too.
    assert_eq!(classify("Teknikeren dukkede aldrig op").lang, "da");
    // A word that is an entry of its own outweighs one that only opens a phrase elsewhere
    // ("service" starts English phrases), and a shared grammar word ("I", "i") does not.
    assert_eq!(classify("Fremragende service!!").lang, "da");
    assert_eq!(classify("Flot service. Glad familie forretning").lang, "da");
    assert_eq!(classify("Synd at I lukker filialen i vores by").lang, "da");
    assert_eq!(classify("Wo bleibt mein Paket").lang, "other");
    assert_eq!(classify("¿Dónde está mi paquete?").lang, "other");
}

#[test]
fn platform_language_tag_wins() {
    let c = classifier().classify(&Input {
        lang: Some("nl-BE"),
        ..Input::new("super")
    });
    assert_eq!(c.lang, "nl");
    let c = classifier().classify(&Input {
        lang: Some("de"),
        ..Input::new("nicht gut")
    });
    assert_eq!(c.lang, "other");
}

#[test]
fn custom_terms_apply_per_watch() {
    let base = Classifier::embedded();
    assert_eq!(
        base.classify(&Input::new("my Zapp 3000 shows E42")).label,
        Label::Neutral
    );
    let terms = CustomTerms {
        complaint: vec!["E42".into()],
        urgent: vec!["recall".into()],
        ..CustomTerms::default()
    };
    let custom = base.with_custom_terms(&terms);
    let c = custom.classify(&Input::new("my Zapp 3000 shows E42"));
    assert_eq!(c.label, Label::Complaint);
    assert!(
        c.reasons
            .iter()
            .any(|r| r.cue == "custom" && r.text == "E42")
    );
}

#[test]
fn moving_to_the_watched_brand_is_not_leaving_it() {
    let fjordlink = Classifier::embedded().with_own_names(&["FjordLink"]);
    for text in [
        "I'm switching to FjordLink next month",
        "Ik stap over naar Fjordlink",
        "Overstappen van KPN naar FjordLink, eindelijk",
        "Jeg skifter til FjordLink i morgen",
    ] {
        let c = fjordlink.classify(&Input::new(text));
        assert_eq!(c.urgency, Urgency::Normal, "{text}: {:?}", c.reasons);
        assert_ne!(c.label, Label::Complaint, "{text}: {:?}", c.reasons);
    }
    // Leaving for another brand is still leaving, and so is moving to a name the classifier
    // was not given.
    for (classifier, text) in [
        (
            &fjordlink,
            "I'm switching to Vodafone, FjordLink is useless",
        ),
        (&fjordlink, "Ik stap over naar Ziggo"),
        (
            &Classifier::embedded(),
            "I'm switching to FjordLink next month",
        ),
    ] {
        let c = classifier.classify(&Input::new(text));
        assert_eq!(c.urgency, Urgency::Urgent, "{text}: {:?}", c.reasons);
    }
}

#[test]
fn lexicons_load_from_a_directory_and_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("en")).unwrap();
    std::fs::write(
        dir.path().join("en/mine.txt"),
        "[complaint meltdown]\nmelted = 2\n",
    )
    .unwrap();
    let c = Classifier::from_dir(dir.path()).unwrap();
    assert_eq!(
        c.classify(&Input::new("the kettle melted")).label,
        Label::Complaint
    );

    std::fs::write(dir.path().join("en/mine.txt"), "[sentiment]\nok\n").unwrap();
    let err = Classifier::from_dir(dir.path()).err().unwrap().to_string();
    assert!(
        err.ends_with("en/mine.txt:2: sentiment entry \"ok\" needs a score, e.g. ok = -2"),
        "{err}"
    );
    let err = Classifier::from_dir(&dir.path().join("nope"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.starts_with("no lexicon folders"), "{err}");
}

#[test]
fn shipped_lexicons_load_from_disk_like_the_embedded_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lexicons");
    let disk = Classifier::from_dir(&dir).unwrap();
    let text = "Lekker dan, weer vertraging";
    assert_eq!(disk.classify(&Input::new(text)), classify(text));
}

#[test]
fn labels_parse_and_print_in_lower_case() {
    for l in Label::ALL {
        assert_eq!(l.to_string().parse::<Label>(), Ok(l));
    }
    assert_eq!(
        serde_json::to_string(&Label::Complaint).unwrap(),
        "\"complaint\""
    );
    assert!("klacht".parse::<Label>().is_err());
}

#[test]
fn verdict_words_parse_in_any_case_and_a_wrong_one_names_the_choices() {
    assert_eq!(" Question ".parse::<Label>(), Ok(Label::Question));
    assert_eq!("NEGATIVE".parse::<Polarity>(), Ok(Polarity::Negative));
    assert_eq!("Urgent".parse::<Urgency>(), Ok(Urgency::Urgent));
    let wrong = "boos".parse::<Polarity>().unwrap_err().to_string();
    assert_eq!(
        wrong,
        "unknown polarity \"boos\"; expected positive, negative or neutral"
    );
    let wrong = "klacht".parse::<Label>().unwrap_err().to_string();
    assert!(
        wrong.contains("complaint, question, praise or neutral"),
        "{wrong}"
    );
}

#[test]
fn classify_command_writes_one_json_object_per_line() {
    let input =
        "Lekker dan, weer vertraging\n\n{\"text\": \"Hoe kan ik opzeggen?\", \"lang\": \"nl\"}\n";
    let mut out = Vec::new();
    run_classify(classifier(), input.as_bytes(), &mut out, false).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["label"], "complaint");
    assert_eq!(lines[1]["label"], "question");
    assert_eq!(lines[1]["lang"], "nl");
    assert!(
        lines[0]["reasons"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
}

#[test]
fn classify_command_explains_for_people() {
    let mut out = Vec::new();
    run_classify(classifier(), "Tak for ingenting".as_bytes(), &mut out, true).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("complaint"), "{text}");
    assert!(
        text.contains("- sarcasm: \"Tak for ingenting\" (phrase) at 0..17"),
        "{text}"
    );
}

#[test]
fn eval_reports_per_language_and_polarity_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.tsv");
    std::fs::write(
        &path,
        "lang\tlabel\ttext\nen\tnegative\tterrible service\nen\tpositive\tgreat service\n",
    )
    .unwrap();
    let mut out = Vec::new();
    let s = run_eval(classifier(), &path, &mut out).unwrap();
    assert_eq!(s.task, "polarity");
    assert_eq!(s.overall.accuracy, 1.0);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("== en (2 mentions, polarity) accuracy 1.000"),
        "{text}"
    );

    std::fs::write(&path, "lang\tlabel\ttext\nen\tklacht\tterrible\n").unwrap();
    let err = run_eval(classifier(), &path, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("p.tsv:2: label \"klacht\" is not one of"),
        "{err}"
    );
}

/// A team's export often says only "complaint or not"; `train` reads such a file, and `eval`
/// scores it too: the named label against every other answer.
#[test]
fn eval_scores_a_one_vs_rest_file_on_its_label_against_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.tsv");
    std::fs::write(
        &path,
        "lang\tlabel\ttext\n\
         en\tcomplaint\tMy parcel is two weeks late and nobody answers\n\
         en\tother\tWhen do you open on Sunday?\n\
         en\tother\tThanks for the quick help, great service!\n\
         en\tother\tThe router keeps dropping the connection\n",
    )
    .unwrap();
    let mut out = Vec::new();
    let s = run_eval(classifier(), &path, &mut out).unwrap();
    assert_eq!(s.task, "complaint vs other");
    let classes: Vec<&str> = s.overall.classes.iter().map(|c| c.class.as_str()).collect();
    assert_eq!(classes, ["complaint", "other"]);
    // The question and the praise are "other" as the file says; the fault report is a
    // complaint the file calls other.
    assert_eq!(s.overall.confusion, vec![vec![1, 0], vec![1, 2]]);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("== en (4 mentions, complaint vs other) accuracy 0.750"),
        "{text}"
    );

    std::fs::write(
        &path,
        "lang\tlabel\ttext\nen\tcomplaint\tlate again\nen\tpraise\tlovely\nen\tother\tok\n",
    )
    .unwrap();
    let err = run_eval(classifier(), &path, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("needs a one-vs-rest file with exactly one other label"),
        "{err}"
    );
}

/// Macro-F1 floors a little under the values measured on 2026-12-07, so a change that makes
/// things worse fails here: the development sets (about 400 posts a language), and the fresh
/// posts of `fresh.tsv`, which were written and classified before any cue was added for them.
#[test]
fn eval_sets_stay_above_their_macro_f1_floor() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/eval");
    // (file, language, least posts, floor)
    let sets = [
        ("en.tsv", "en", 400, 0.95),
        ("nl.tsv", "nl", 400, 0.96),
        ("da.tsv", "da", 400, 0.96),
        ("fresh.tsv", "en", 2950, 0.878),
        ("fresh.tsv", "nl", 2900, 0.895),
        ("fresh.tsv", "da", 2880, 0.895),
    ];
    for (file, lang, least, floor) in sets {
        let s = run_eval(classifier(), &root.join(file), Vec::new()).unwrap();
        let l = s.lang(lang).unwrap();
        assert!(l.n >= least, "{file} {lang}: only {} posts", l.n);
        assert!(
            l.macro_f1 >= floor,
            "{file} {lang}: macro-F1 {:.3} fell below {floor}",
            l.macro_f1
        );
    }
}

#[test]
fn a_unit_with_slash_s_is_not_the_sarcasm_marker() {
    let c = classify("940 Mbit/s over cable and installed in two days. Top job!");
    assert_eq!(c.label, Label::Praise, "{:?}", c.reasons);
    assert!(!sarcastic(&c), "{:?}", c.reasons);
    assert_eq!(
        label("The new line does 120 km/h between the two stations"),
        Label::Neutral
    );
    // On its own, "/s" still marks sarcasm.
    assert!(classify("Love waiting two hours for a train /s").label == Label::Complaint);
}

#[test]
fn star_ratings_are_a_strong_signal() {
    let low = classify("Quick install but the router is slow (1/5)");
    assert_eq!(low.label, Label::Complaint, "{:?}", low.reasons);
    assert!(has_reason(&low, "complaint", "1/5"), "{:?}", low.reasons);
    let high = classify("Quick install, friendly engineer, 5/5");
    assert_eq!(high.label, Label::Praise);
    assert!(has_reason(&high, "praise", "5/5"), "{:?}", high.reasons);
    let stars = classify("Snelle levering ★★★★★");
    assert_eq!(stars.label, Label::Praise);
    // A date or a fraction of something else is not a rating.
    assert!(!has_reason(
        &classify("Delivery on 2/5/2026"),
        "complaint",
        "2/5"
    ));
}

#[test]
fn sarcasm_around_a_low_rating_is_a_complaint() {
    let c = classify(
        "Great, another outage right during the match. Well done, truly impressive. (2/5)",
    );
    assert_eq!(c.label, Label::Complaint, "{:?}", c.reasons);
    assert_eq!(c.polarity, Polarity::Negative);
    let nl = classify("Geweldig hoor, weer een storing tijdens de wedstrijd. Top gedaan! (1/5)");
    assert_eq!(nl.label, Label::Complaint);
}

#[test]
fn press_lawyer_and_regulator_threats_are_always_urgent_complaints() {
    assert_verdicts(
        Label::Complaint,
        Urgency::Urgent,
        &[
            "Going to the press about Fjordlink and my 84-year-old mother",
            "I have contacted a reporter at the local paper about how you treated my mother",
            "I'm contacting the ombudsman about this",
            "Ik heb een verslaggever van de krant gebeld over hoe jullie mijn moeder behandelen",
            "Jeg har kontaktet en journalist om hvordan I har behandlet min mor",
        ],
    );
    // A newspaper named in passing is no threat, nor is a regulator in a headline; a
    // customer going to one is.
    assert_labels(
        Label::Neutral,
        &[
            "Telia og Telenor slår netværk sammen, skriver avisen",
            "Ofcom opens investigation into mid-contract price rises",
        ],
    );
    assert_verdicts(
        Label::Complaint,
        Urgency::Urgent,
        &[
            "AT&T billed me for a phone I returned. Filing with the FCC today.",
            "Bliver det ikke krediteret, går jeg til Teleankenævnet.",
        ],
    );
}

#[test]
fn a_prospect_asking_for_advice_is_not_leaving() {
    let c =
        classify("Best ISP in Copenhagen? Moving to Vesterbro in January, is Fjordlink any good?");
    assert_eq!(c.label, Label::Question, "{:?}", c.reasons);
    assert_eq!(c.urgency, Urgency::Normal, "{:?}", c.urgency_reasons);
    let nl =
        classify("We verhuizen naar Utrecht, welke provider is een aanrader? Ik wil overstappen");
    assert_eq!(nl.urgency, Urgency::Normal, "{:?}", nl.urgency_reasons);
    // A customer leaving still is.
    assert_eq!(
        classify("Cancel my subscription then, switching to another provider").urgency,
        Urgency::Urgent
    );
}

#[test]
fn advice_words_that_ask_nothing_are_a_verdict() {
    // "Maar 18 euro" is "only", but read as a contrast it weighs the advice word after it up.
    assert_labels(
        Label::Praise,
        &[
            "Fietsenmaker De Spaak in Utrecht: binnen een uur mijn achterwiel gefixt en maar 18 euro. Aanrader!!",
            "Belmo Mobiel laat gewoon alles hetzelfde, maar zit er nu 3 jaar en nog nooit een probleem gehad. Aanrader voor iedereen.",
        ],
    );
    // Asked, the same word seeks advice.
    assert_labels(
        Label::Question,
        &["Ik twijfel nog, maar is Belmo Mobiel een aanrader? Ervaringen?"],
    );
}

#[test]
fn a_question_to_the_crowd_asks_the_brand_nothing_unless_it_tells_of_a_fault() {
    assert_labels(
        Label::Neutral,
        &[
            "Anyone else watching the match tonight?",
            "Iemand tips voor een leuk wintersportadres in Oostenrijk? Vorig jaar via de ANWB geboekt.",
            "Vi tager Flixbus til Berlin mellem jul og nytår, nogen der har tips til gode julemarkeder?",
            "er det kun mig der synes anden smager bedst når den er købt på tilbud i Rema",
        ],
    );
    // Asked about the brand's service, it is a question; with a fault beside it, a complaint.
    assert_labels(
        Label::Question,
        &[
            "Does anyone know if Evri delivers on Sundays in Glasgow?",
            "Weet iemand of bpost ook op zaterdag pakjes levert in Leuven?",
            "Iemand tips voor een weekendje Gent? Kan ik mijn fiets meenemen in de trein?",
            // Tips asked of nobody in particular are asked of the brand.
            "@Vodafone any tips for a better signal indoors?",
            "@Ziggo tips voor een beter bereik van de wifi op zolder?",
        ],
    );
    assert_labels(
        Label::Complaint,
        &[
            "Is it just me or is the Fjordlink app not loading at all today?",
            "Er det kun mig der synes at Telmo er nede igen i aften?",
        ],
    );
}

#[test]
fn the_good_words_of_a_question_to_the_crowd_are_what_the_writer_is_after() {
    assert_labels(
        Label::Neutral,
        &[
            "Har lige booket Bornholmslinjen til uge 29 🎉 nogen der har tips til gode spisesteder i Gudhjem?",
            "wat kijken jullie deze herfstvakantie? zoek een goeie serie, maakt niet uit of het op netflix staat",
            "What's everyone watching tonight? Need something really good and cosy 😍",
        ],
    );
    // Praise said beside a question to the crowd is still praise.
    assert_labels(
        Label::Praise,
        &["Anyone else think the new Fjordlink app is brilliant? Best update in years, well done"],
    );
}

#[test]
fn a_negation_spent_on_a_verb_turns_nothing_after_it() {
    for (text, fault) in [
        (
            "my classdojo does not load messages since the update",
            "since the update",
        ),
        ("de app laadt niet sinds de update", "sinds de update"),
    ] {
        let c = classified_as(text, Label::Complaint);
        assert!(
            has_reason(&c, "complaint", fault),
            "{text}: {:?}",
            c.reasons
        );
    }
}

#[test]
fn danish_nede_is_an_outage_unless_it_names_a_place() {
    assert_labels(
        Label::Complaint,
        &[
            "MobilePay nede??",
            "Telnet nede. igen.",
            "Nettet er nede på Amager",
        ],
    );
    assert_labels(
        Label::Neutral,
        &[
            "Vi står nede ved kajen og venter på færgen",
            "Bageren længere nede ad gaden har åbent søndag",
        ],
    );
}

#[test]
fn news_is_not_a_customer_complaint_unless_it_quotes_one() {
    let text = "Storing bij Poldernet treft duizenden klanten. Klanten van internetprovider Poldernet zaten donderdag urenlang zonder internet door een storing in het netwerk.";
    let as_news = |voice: Option<Voice>, headline: bool| {
        classifier().classify(&Input {
            voice,
            headline,
            ..Input::new(text)
        })
    };
    assert_eq!(classify(text).label, Label::Complaint);
    let news = as_news(Some(Voice::News), false);
    assert_eq!(news.label, Label::Neutral, "{:?}", news.reasons);
    assert_eq!(news.urgency, Urgency::Normal);
    assert!(news.reasons.iter().any(|r| r.kind == "news"));
    // Headline + body in the third person reads as an article without being told.
    assert_eq!(as_news(None, true).label, Label::Neutral);
    assert_eq!(as_news(Some(Voice::Customer), true).label, Label::Complaint);
    // Quoting a customer makes it one.
    let quoted = "Storing bij Fjordlink. \"Ik zit al drie dagen zonder internet\", zegt een klant.";
    let q = classifier().classify(&Input {
        voice: Some(Voice::News),
        ..Input::new(quoted)
    });
    assert_eq!(q.label, Label::Complaint, "{:?}", q.reasons);
    // A customer who drops the "I" in a headlined post is still a customer.
    let angry = classifier().classify(&Input {
        headline: true,
        ..Input::new("70 minutes on hold with Fjordlink, this is a joke. Seventy minutes of the same four bars of music, then the line went dead. Second time this week.")
    });
    assert_eq!(angry.label, Label::Complaint, "{:?}", angry.reasons);
}

#[test]
fn praise_for_the_next_outage_is_sarcasm_not_praise() {
    for text in [
        "Great, another outage… thanks Fjordlink",
        "Fedt, endnu et nedbrud hos Fjordlink",
        "Top, weer een storing bij Fjordlink",
    ] {
        let c = classify(text);
        assert_eq!(c.label, Label::Complaint, "{text}: {c:?}");
        assert!(sarcastic(&c), "{text}: {c:?}");
    }
    // Praise that only sits near the word "another" stays praise.
    assert_eq!(
        label("Yet another award for Fjordlink, well deserved"),
        Label::Praise
    );
}

#[test]
fn praise_said_on_its_own_next_to_a_negative_sentence_is_sarcasm() {
    // No complaint cue in any of these: the negative sentence is only negative words.
    for text in [
        "Wow. My train was stopped at Odense for an hour, awful. Amazing.",
        "The bill is horrible again. Brilliant.",
        "Mijn bezorger was vreselijk onbeleefd. Top.",
        "Fantastisk. Sikke en elendig kundeservice.",
        "Forfærdelig oplevelse i butikken i dag. Super.",
    ] {
        let c = classified_as(text, Label::Complaint);
        assert!(
            c.reasons
                .iter()
                .any(|r| r.cue == "praise on its own next to a complaint"),
            "{text}: {:?}",
            c.reasons
        );
    }
}

#[test]
fn praise_said_on_its_own_next_to_a_neutral_or_good_sentence_is_sincere() {
    assert_labels(
        Label::Praise,
        &[
            // The bad news is not next to the praise: the sentence between it is neutral.
            "Sick at home. Films on the new Fjordlink fibre. Perfect.",
            "Syg derhjemme. Fjordlink fiber kører. Perfekt.",
            // Something else good is said: the praise is meant.
            "Awful storm last night. Power back this morning. Thanks Fjordlink, great job.",
            "Ordered, delivered, fitted. All in 3 days. Brilliant.",
            "Rainy Monday, stuck at home. Fjordlink streaming saved the day. Perfect.",
        ],
    );
}

#[test]
fn an_emoji_on_its_own_after_a_complaint_is_sarcasm_but_after_an_outage_report_it_may_be_meant() {
    for text in [
        "My train was cancelled again. 👍",
        "Wifi down for the third day. 😍",
        "Third outage this week. 👏👏",
        "Internet ligt er weer uit. 👍",
    ] {
        let c = classified_as(text, Label::Complaint);
        assert!(sarcastic(&c), "{text}: {:?}", c.reasons);
    }
    // An outage reported calmly, with a thumbs-up for the engineers: no complaint is made.
    for text in [
        "Outage in my area, engineers already on it. 👍",
        "Strømafbrydelse i nat. Teknikerne var der hurtigt. 👍",
    ] {
        let c = classify(text);
        assert!(!sarcastic(&c), "{text}: {:?}", c.reasons);
    }
}

#[test]
fn a_service_said_to_be_down_without_a_verb_is_an_outage() {
    assert_verdicts(
        Label::Complaint,
        Urgency::Urgent,
        &[
            "Wifi down since this morning",
            "broadband down in the whole street",
            "Internet ligt er weer uit",
            "Internettet nede siden i morges",
        ],
    );
}

#[test]
fn a_mixed_post_says_which_side_wins_and_is_not_read_as_sarcasm() {
    for (text, want) in [
        // What "although" grants counts half, on either side of the main clause.
        (
            "Although the staff were lovely, the install failed",
            Label::Complaint,
        ),
        (
            "The install failed, although the staff were lovely",
            Label::Complaint,
        ),
        ("Great service although the app crashed once", Label::Praise),
        (
            "Hoewel de monteur aardig was, werkt het internet nog steeds niet",
            Label::Complaint,
        ),
        // A grievance in the granted clause still counts in full.
        (
            "Min pakke er blevet sendt retur, selvom jeg var hjemme hele dagen",
            Label::Complaint,
        ),
        (
            "Selvom jeg har ringet tre gange, er der ingen der vender tilbage",
            Label::Complaint,
        ),
        // Praise before a "but" is honest, not mocking.
        (
            "Nice speeds but the router keeps disconnecting",
            Label::Complaint,
        ),
        (
            "Super vriendelijke monteur, maar internet doet het nog steeds niet",
            Label::Complaint,
        ),
    ] {
        let c = classified_as(text, want);
        assert!(!sarcastic(&c), "{text}: {:?}", c.reasons);
    }
}

#[test]
fn speed_said_with_force_is_praise() {
    assert_labels(
        Label::Praise,
        &[
            "The new fibre is insanely fast",
            "Wat een snelle service zeg!",
            "Razendsnel internet sinds de overstap",
            "Lynhurtigt net siden jeg skiftede",
        ],
    );
}

#[test]
fn a_customer_who_depends_on_the_line_is_urgent() {
    assert_verdicts(
        Label::Complaint,
        Urgency::Urgent,
        &[
            "My elderly mother has no phone line since Monday, she relies on her alarm",
            "Mijn hoogbejaarde vader heeft geen vaste lijn en zijn alarmknop werkt niet",
            "Min mor på 89 har ingen telefon og hun har nødkald",
        ],
    );
}

#[test]
fn moving_to_another_plan_is_a_question_but_moving_to_another_provider_is_leaving() {
    assert_verdicts(
        Label::Question,
        Urgency::Normal,
        &[
            "Can I switch to a cheaper plan?",
            "Kan ik overstappen naar een goedkoper abonnement?",
            "Kan jeg skifte til et billigere abonnement?",
        ],
    );
    assert_verdicts(
        Label::Complaint,
        Urgency::Urgent,
        &[
            "I'm switching to Sky next month, done with this",
            "Aldrig mere Fjordlink, sikke et cirkus",
        ],
    );
}

#[test]
fn paying_twice_an_engineer_who_never_came_and_nobody_picking_up_are_complaints() {
    assert_labels(
        Label::Complaint,
        &[
            "Paid twice for the same month",
            "Ik heb twee keer betaald voor dezelfde maand",
            "Jeg har betalt to gange for samme måned",
            "Monteur kwam niet opdagen, vrije dag voor niks genomen",
            "Der er ingen der tager telefonen",
            "Er is niemand die opneemt",
        ],
    );
}

#[test]
fn not_happy_said_mildly_is_a_complaint_and_couldnt_be_happier_is_praise() {
    assert_labels(
        Label::Complaint,
        &[
            "Niet echt blij met de nieuwe app",
            "Ikke særlig imponeret over den nye app",
            "Not really happy with the new box",
        ],
    );
    assert_labels(
        Label::Praise,
        &[
            "Couldn't be happier with the switch",
            "Kon niet blijer zijn met de overstap",
            "Kunne ikke være gladere for skiftet",
            "No complaints so far with Fjordlink",
            "Not bad at all, the new box works fine",
        ],
    );
}

#[test]
fn a_prize_to_share_with_a_few_spots_left_is_spam_but_a_plea_to_share_is_not() {
    let scam = "WIN een gratis jaar Fjordlink Fiber!!! 🎁 🎉 Gefeliciteerd! Jij bent \
                geselecteerd. Deel dit bericht en claim hier je gratis jaar Fjordlink Fiber. \
                Nog maar 3 plekken!!! http://bit.ly/3xWinNu";
    assert!(classify(scam).spam);
    let c = classified_as(
        "Please share this post, my mum's internet has been down for a week and nobody helps",
        Label::Complaint,
    );
    assert!(!c.spam);
}

#[test]
fn earnings_by_the_day_are_a_spam_pitch() {
    for text in [
        "Verdien €500 per dag vanuit huis, stuur me een DM",
        "Tjen 5000 kr om dagen hjemmefra, skriv til mig",
    ] {
        assert!(classify(text).spam, "{text}");
    }
    assert!(!classify("I earn 30k a year and can't afford your prices").spam);
}

#[test]
fn being_logged_out_is_a_failure_so_brilliant_before_it_is_sarcasm() {
    let c = classified_as(
        "Oh brilliant, the app logged me out again",
        Label::Complaint,
    );
    assert!(sarcastic(&c), "{:?}", c.reasons);
    assert_labels(
        Label::Complaint,
        &[
            "De app logt me steeds uit",
            "Lovely weather today, internet still down though",
        ],
    );
}

#[test]
fn congratulations_and_being_fond_of_something_are_praise_in_dutch() {
    assert_labels(
        Label::Praise,
        &[
            "Proficiat met de prijs, verdiend!",
            "Gefeliciteerd met de prijs, dik verdiend",
            "Onze kinderen zijn dol op de nieuwe tv-box",
            "Ik ben gek op jullie nieuwe app",
        ],
    );
}

#[test]
fn a_loyal_customer_treated_badly_and_paying_for_nothing_ask_rhetorically() {
    assert_labels(
        Label::Complaint,
        &[
            "Been a Fjordlink customer 12 years and this is how you treat me",
            "15 jaar klant en zo behandelen jullie mij",
            "Why am I paying for a landline I never use",
            "Hvorfor betaler jeg for en fastnet jeg aldrig bruger?",
            "No improvement at all after the update",
            "Geen enkele verbetering na de update",
        ],
    );
    assert_labels(
        Label::Praise,
        &[
            "The new router is a massive improvement",
            "Den nye app er en kæmpe forbedring",
        ],
    );
}

#[test]
fn a_though_at_the_end_of_a_clause_makes_that_clause_count_more() {
    assert_labels(
        Label::Complaint,
        &[
            "Great speeds, the app is rubbish though",
            "Love the fibre. Customer service is awful though.",
            "Staff were lovely, the install failed though",
        ],
    );
    assert_labels(
        Label::Praise,
        &[
            "The app is rubbish, great speeds though",
            "Not cheap. Worth every penny though.",
        ],
    );
    // Said mid-sentence it is a "but": what follows counts more.
    classified_as("Great speeds, though the app is rubbish", Label::Complaint);
}

#[test]
fn how_long_alone_is_no_complaint_but_how_long_something_has_not_worked_is() {
    assert_labels(
        Label::Question,
        &[
            "Going on holiday for 2 weeks, any tips?",
            "Ik ga 3 weken naar Spanje, werkt mijn bundel daar?",
            "Jeg skal på ferie i 2 uger, virker mit abonnement i Spanien?",
        ],
    );
    assert_labels(
        Label::Complaint,
        &[
            "the heating hasn't worked for 2 weeks",
            "Vi har ikke haft varmt vand i to uger",
            "Mijn pakket is al twee weken onderweg",
            "Internet down for 3 days",
        ],
    );
}

#[test]
fn thanks_for_a_reply_that_did_not_fix_it_is_a_complaint() {
    assert_labels(
        Label::Complaint,
        &[
            "Bedankt voor het snelle antwoord, maar het probleem is nog niet opgelost",
            "Tak for svaret, men det løser ikke mit problem",
            "Thanks for the reply but that doesn't fix anything",
            "Still not fixed yet",
            "Fjordlink, you had one job",
        ],
    );
    classified_as("Problem fixed, thanks!", Label::Praise);
}

#[test]
fn saying_there_is_a_question_is_a_question() {
    assert_labels(
        Label::Question,
        &[
            "I have a question about my bill",
            "Ik heb een vraag over mijn factuur",
            "Jeg har et spørgsmål til min regning",
        ],
    );
}

#[test]
fn paying_for_more_than_arrives_is_a_complaint_but_an_offer_is_not() {
    assert_labels(
        Label::Complaint,
        &[
            "I pay for a speed I never get",
            "Paying for 500 Mbit and getting 40 in the evening",
            "Ik betaal voor 500 Mbit en krijg er 40",
            "Jeg betaler for 1000 Mbit og får kun 100",
        ],
    );
    assert_labels(
        Label::Neutral,
        &[
            "Pay for 12 months and get 3 months free with Fjordlink fibre",
            "Betaal voor 12 maanden en krijg er 3 gratis bij Fjordlink",
        ],
    );
}

#[test]
fn a_writer_who_says_it_cannot_wait_is_urgent_only_when_asking_or_complaining() {
    assert_verdicts(
        Label::Question,
        Urgency::Urgent,
        &[
            "Ring venligst tilbage, det haster",
            "Urgent: how do I port my number to Fjordlink?",
            "Kunnen jullie me zsm terugbellen?",
        ],
    );
    // Said of something else, in a post that asks nothing, it is no complaint and not urgent.
    assert_verdicts(
        Label::Neutral,
        Urgency::Normal,
        &[
            "Fjordlink urgent maintenance tonight between 1 and 3",
            "Wij zoeken dringend versterking voor ons team",
        ],
    );
}

#[test]
fn working_from_home_is_not_spam_when_a_customer_says_it() {
    let c = classify(
        "I work from home and my internet is down again, see https://downdetector.com/status/fjordlink",
    );
    assert!(!c.spam, "{:?}", c.reasons);
    assert_eq!(c.label, Label::Complaint);
    assert!(classify("Work from home and earn 500 a day! https://x.co/j").spam);
}

#[test]
fn going_without_no_compensation_and_not_good_enough_are_complaints() {
    assert_labels(
        Label::Complaint,
        &[
            "5 days without internet and zero compensation",
            "5 dagen zonder internet en geen cent compensatie. Ongelooflijk.",
            "Ingen kompensation for 5 dage uden internet. Utroligt.",
            "Det er tredje gang på en uge at nettet er nede",
            "Is it just me or is Fjordlink TV buffering all night again",
            "Alles werkt weer niet",
            "Mit tv-signal forsvinder hver aften kl 20",
            "Det er simpelthen ikke godt nok, Fjordlink",
            "Man kan ikke komme igennem på telefonen",
            "Dit is gewoon niet goed genoeg",
            "Ik krijg niemand te pakken bij de klantenservice",
            "Mijn internet is supertraag vanavond",
            "Nettet kører i sneglefart i aften",
            "Why is it so hard to cancel a contract with you?",
        ],
    );
    // A negated failure is not one, nor are the words in other senses.
    assert_eq!(
        label("The new app is not slow at all, nice work"),
        Label::Praise
    );
    assert_labels(
        Label::Neutral,
        &[
            "Slow down and enjoy the weekend, from all of us at Fjordlink",
            "Fjordlink Sport drops every Premier League match live this season",
        ],
    );
    // Leaving another provider for this one is praise.
    assert_eq!(
        label("I cancelled my Sky subscription and switched to Fjordlink, best decision ever"),
        Label::Praise
    );
    // A repeat that ended in a fix is thanks, not sarcasm.
    assert_labels(
        Label::Praise,
        &[
            "Voor de derde keer deze maand een monteur gehad, nu werkt alles weer top",
            "Third engineer visit this month, now everything works. Great",
            "Nu virker alt igen efter tredje besøg, super",
        ],
    );
}

#[test]
fn a_prize_that_asks_for_card_details_is_spam_but_a_failed_payment_is_a_complaint() {
    let phish = classify(
        "Vind en iPhone 17 Pro – Fjordlink julekonkurrence: Tillykke! Du er udvalgt til at vinde en iPhone 17 Pro fra Fjordlink. Indtast dine kortoplysninger for at betale fragten (19 kr.)",
    );
    assert!(phish.spam, "{:?}", phish.reasons);
    assert_ne!(phish.label, Label::Praise);
    assert_labels(
        Label::Complaint,
        &[
            "Jeg har tastet mine kortoplysninger ind tre gange, men betalingen fejler",
            "Ik heb mijn kaartgegevens gewijzigd maar de incasso mislukt nog steeds",
        ],
    );
}

#[test]
fn a_complaint_said_as_minor_does_not_turn_a_good_review_sarcastic() {
    assert_labels(
        Label::Praise,
        &[
            "Prima, storingskaart is handig: de kaart werkt goed en je ziet meteen of het aan jou ligt. Eén ster eraf omdat de chat soms blijft hangen.",
        ],
    );
    // Without "soms" the same failure is a complaint.
    assert_eq!(label("De chat blijft hangen"), Label::Complaint);
}

#[test]
fn job_ads_are_promotion_not_praise_or_complaints() {
    for text in [
        "We're hiring! Customer service agent wanted at Fjordlink in Utrecht, great team, apply now",
        "Vacature: klantenservice medewerker bij Fjordlink, leuk team, solliciteer nu",
        "Fjordlink søger en supporter. Søg stillingen i dag, super arbejdsplads",
    ] {
        let c = classify(text);
        assert!(c.spam, "{text}: {c:?}");
        assert_eq!(c.label, Label::Neutral, "{text}: {c:?}");
        assert!(
            c.reasons
                .iter()
                .any(|r| r.kind == "spam" && r.cue == "job ad"),
            "{text}: {c:?}"
        );
    }
    // A customer who mentions an application is still heard.
    assert_eq!(
        label("I applied for the job two months ago and nobody ever replied. Useless."),
        Label::Complaint
    );
}

#[test]
fn one_warm_word_about_the_staff_or_a_shop_is_praise() {
    assert_labels(
        Label::Praise,
        &[
            "The technician was friendly and tidied up after himself",
            "De servicemonteur was vriendelijk en heel deskundig",
            "Teknikeren var venlig og ryddede op efter sig",
            "Rigtig god kontakt med jeres skadeafdeling",
            "Sikke en flot ny butik i Aarhus",
        ],
    );
}

#[test]
fn contests_and_loyalty_schemes_are_not_praise() {
    assert_labels(
        Label::Neutral,
        &[
            "Winactie! Volg ons en like om kans te maken op een Dyson 🎉",
            "Konkurrence! Følg os og like for at vinde en Dyson 🎉",
            "Signed up for the loyalty card",
        ],
    );
    // A loyal customer is who complains, not what is praised.
    classified_as(
        "Toch wel triest dat ik als trouwe klant nu meer betaal dan nieuwe klanten",
        Label::Complaint,
    );
}

#[test]
fn looking_forward_to_the_day_you_listen_is_a_reproach() {
    assert_sarcasm(
        true,
        Label::Complaint,
        &[
            "Looking forward to the day you actually answer an email",
            "Ik kijk uit naar de dag dat jullie de telefoon opnemen",
            "Jeg glæder mig til den dag I begynder at lytte til jeres kunder",
        ],
    );
    classified_as(
        "Looking forward to the day my new phone arrives!",
        Label::Neutral,
    );
}

#[test]
fn greetings_and_offers_are_manners_not_praise() {
    assert_labels(
        Label::Neutral,
        &[
            "Have a great weekend everyone!",
            "Enjoy your weekend from the Fjordlink team",
            "Fijne feestdagen allemaal",
            "God weekend og glædelig jul fra os alle",
            "Free shipping this week on all routers",
        ],
    );
    // Thanks said beside the wish is still praise, and a skipped charge still pleases.
    assert_labels(
        Label::Praise,
        &[
            "Have a great day, thanks for the help!",
            "Fantastic, they replaced it for free",
        ],
    );
}

#[test]
fn praise_beside_mere_time_or_tone_is_sincere() {
    assert_sarcasm(
        false,
        Label::Praise,
        &[
            "Best bank app out there, seriously",
            "Shout out to the driver on the 38 who waited for my nan. Legend.",
            "Top notch service as usual 👌",
        ],
    );
    // A fault beside the praise is still mocked.
    assert!(sarcastic(&classified_as(
        "Brilliant, waited an hour and the engineer never showed up",
        Label::Complaint
    )));
}

#[test]
fn a_complaint_handled_well_or_a_refund_that_arrived_is_praise() {
    assert_labels(
        Label::Praise,
        &[
            "Really impressed with how you handled my complaint. Refund already in my account.",
            "Bedankt dat jullie mijn klacht zo serieus hebben genomen",
            "Tak fordi I tog min klage så seriøst",
            "Nice one, refund arrived in 24 hours",
            "Been with Fjordlink eight years, never had any issues",
            "Al tien jaar klant en nog nooit een probleem gehad",
            "Ik kan jullie nieuwe spaarrekening iedereen aanraden",
        ],
    );
    assert_labels(
        Label::Complaint,
        &[
            "Mijn klacht wordt niet serieus genomen",
            "Never had a problem until this week, now nothing works",
            "Jeg kan ikke anbefale jer til nogen",
            "Ik zou Fjordlink aan niemand aanraden",
        ],
    );
}

#[test]
fn polite_grievances_and_fixes_that_did_not_hold_are_complaints() {
    assert_labels(
        Label::Complaint,
        &[
            "Het pinapparaat doet het weer niet, al de derde keer deze week",
            "Ik vind het echt jammer dat jullie de winkel in ons dorp sluiten",
            "Such a shame that you closed the branch in our village",
            "Synd at I lukker filialen i vores by",
            "Always the same story with you, nothing ever works",
            "Het is een stuk slechter geworden sinds de update",
        ],
    );
    // "Een stuk beter" is a good deal better, not something broken.
    classified_as(
        "Nieuwe app is echt een stuk beter, complimenten",
        Label::Praise,
    );
    let c = classified_as(
        "Ik word gek van jullie keuzemenu aan de telefoon",
        Label::Complaint,
    );
    assert_eq!(c.urgency, Urgency::Urgent, "{:?}", c.reasons);
}

#[test]
fn a_promise_quoted_back_in_scare_quotes_is_sarcasm() {
    assert_sarcasm(
        true,
        Label::Complaint,
        &[
            "Thanks a lot for the \"quick\" repair that took 6 weeks",
            "Jullie 'gratis' bezorging kost dus gewoon 4,95",
            "Jeres \"gratis\" levering koster altså 49 kr",
        ],
    );
}

#[test]
fn refusals_drive_pasts_and_late_visits_are_complaints() {
    assert_labels(
        Label::Complaint,
        &[
            "The bus driver drove straight past me at the stop",
            "De bus reed me gewoon voorbij, en dat in de regen",
            "Bussen kørte forbi mig selvom jeg stod ved stoppestedet",
            "The staff refused to help me with my return",
            "Medewerker weigerde te helpen met mijn retour",
            "Butikken nægtede at hjælpe mig med returneringen",
            "Tracking says supposedly delivered at 14:02, nothing here",
            "My card was declined twice at your self checkout, there is money on it",
            "Er kwam pas een monteur na 3 dagen",
            "Der kom først en tekniker efter 5 dage",
            "Talked to 4 different agents and nobody can fix my bill",
            "Daar gaan we weer, storing in heel Utrecht",
            "Chaufføren kørte over for rødt og skældte mig ud da jeg sagde noget",
        ],
    );
    // A maintenance notice is not a complaint, nor is driving past a shop.
    classified_as(
        "Service temporarily unavailable between 2 and 4 tonight for maintenance",
        Label::Neutral,
    );
    classified_as(
        "Drove past your new store today, looks great",
        Label::Praise,
    );
}

#[test]
fn leaving_said_in_passing_words_is_an_urgent_complaint() {
    assert_verdicts(
        Label::Complaint,
        Urgency::Urgent,
        &[
            "Never flying with @united ever again",
            "I will never fly us airways again.",
            "after 25 years of flying with you we are officially DONE",
            "Per 1 januari ben ik weg.",
            "Norlys har hævet prisen igen uden at sige et ord. Jeg skifter.",
        ],
    );
}

#[test]
fn saying_you_leave_is_a_complaint_and_asking_how_is_a_question() {
    assert_verdicts(
        Label::Complaint,
        Urgency::Urgent,
        &[
            "I'm never flying with you again after today",
            "I'll never bank with you again after this",
            "Ik ga nooit meer met jullie in zee",
        ],
    );
    assert_labels(
        Label::Question,
        &[
            "Hoe kan ik mijn abonnement opzeggen?",
            "Hvordan opsiger jeg mit abonnement?",
        ],
    );
}

#[test]
fn not_even_the_least_is_a_complaint_but_still_negates() {
    assert_labels(
        Label::Complaint,
        &[
            "Driver didn't even knock, just left a card. I was home all day.",
            "De bezorger belt niet eens aan, laat gewoon een briefje achter",
            "Pakken kom ikke engang frem til tiden",
        ],
    );
    // "Niet eens duur" is cheap, and said beside praise it stays praise.
    classified_as("Het was niet eens duur en het werkt perfect", Label::Praise);
    classified_as(
        "I didn't even have to call, they fixed it remotely, great!",
        Label::Praise,
    );
}

#[test]
fn small_talk_and_everyday_words_for_good_and_bad() {
    assert_labels(
        Label::Neutral,
        &[
            "Off to IKEA, wish me luck",
            "På vej til IKEA, ønsk mig held og lykke",
        ],
    );
    assert_labels(
        Label::Praise,
        &[
            "The new trains on the line are so comfy",
            "Fair play, the delay repay was paid within 2 days",
        ],
    );
    assert_labels(
        Label::Complaint,
        &[
            "Mouldy bread again from the Croydon store",
            "The staff at the till were laughing at customers. Unprofessional.",
            "Seat reservations not honoured, stood the whole way to Edinburgh",
        ],
    );
}

#[test]
fn quick_help_good_advice_and_heroes_are_praise() {
    assert_labels(
        Label::Praise,
        &[
            "Kudos til teknikeren, han fandt fejlen med det samme",
            "Kudos voor de snelle reactie",
            "Nou, dat ging snel! Binnen een dag een nieuwe pas",
            "Nå, det gik hurtigt! Nyt kort på en dag",
            "Goede tip van jullie medewerker, scheelt me 10 euro per maand",
            "Fijn dat jullie zo snel reageren",
            "Buddet bar alle kasserne op på fjerde sal. Sikke en helt!",
            "Jeg var skeptisk, men skiftet gik helt gnidningsfrit",
            "Jullie app is echt de handigste van alle banken",
            "The installation went smoothly, thanks",
        ],
    );
}

#[test]
fn asking_whether_there_is_an_outage_is_an_urgent_question() {
    assert_verdicts(
        Label::Question,
        Urgency::Urgent,
        &[
            "Is er een storing bij KPN in Utrecht?",
            "Er der nedbrud i Odense lige nu?",
            "Is there an outage in Leeds? Nothing loads",
        ],
    );
}

#[test]
fn a_long_customership_or_an_offer_to_switch_is_no_complaint() {
    assert_labels(
        Label::Neutral,
        &[
            "Mijn moeder is al sinds 1985 klant bij deze bank",
            "Nu 3 maanden gratis bij overstappen",
            "Ik ga overstappen op een andere energieleverancier, nog even vergelijken",
        ],
    );
    assert_labels(
        Label::Complaint,
        &[
            "Geen sorry, geen uitleg, gewoon de deur dicht om 17:55",
            "No explanation and no apology after three days offline",
        ],
    );
}

#[test]
fn a_why_that_expects_nothing_is_a_complaint_and_a_why_that_asks_is_a_question() {
    assert_labels(
        Label::Complaint,
        &[
            "Why is there never any milk on the shelves at the Didsbury store?",
            "my router has been flashing red since 6am, working from home is impossible",
        ],
    );
    assert_labels(
        Label::Question,
        &[
            "Why is there no dark mode in the app?",
            "Could you check whether my complaint reference 77812 is still open?",
        ],
    );
}

#[test]
fn a_help_request_that_mentions_the_fault_is_a_question_and_still_waiting_is_a_complaint() {
    classified_as(
        "Hoe kan ik mijn FjordBox resetten? Mijn FjordBox blijft hangen op het opstartscherm. \
         Weet iemand hoe je een fabrieksreset doet?",
        Label::Question,
    );
    assert_labels(
        Label::Complaint,
        &[
            "Ik wacht nog steeds op mijn modem",
            "Wij wachten nog steeds op de monteur",
        ],
    );
}

#[test]
fn staff_who_wait_for_a_customer_are_praised_not_complained_about() {
    classified_as(
        "The driver waited while I ran back for my wallet. Proper gent",
        Label::Praise,
    );
    assert_labels(
        Label::Complaint,
        &[
            "Booked a table for 8, waited an hour, food came cold",
            "I waited 40 minutes",
        ],
    );
}

#[test]
fn getting_other_than_was_ordered_or_agreed_is_a_complaint() {
    assert_labels(
        Label::Complaint,
        &[
            "So I ordered a large and got a medium. Again. Not hard is it",
            "Besteld in het zwart maar kreeg een rode",
            "Regningen er dobbelt så høj som aftalt, og ingen vil forklare hvorfor",
            "De rekening is hoger dan afgesproken",
            "My parcel has been \"out for delivery\" since Tuesday. It's Friday.",
            // An amount with its unit is a number.
            "I'm paying for 500Mb and getting 40. Every speedtest the same",
            "So apparently I owe you £60 for a router I never received",
            "Jeg har betalt for en router, som aldrig er kommet",
        ],
    );
    classified_as("Yay my new phone is out for delivery!", Label::Praise);
}

#[test]
fn an_opening_question_word_asks_without_a_question_mark() {
    assert_labels(
        Label::Question,
        &[
            "what time does the helpline open on saturdays",
            "hoeveel kost een extra simkaart",
            "hvor meget koster det at flytte mit abonnement",
        ],
    );
}

#[test]
fn money_making_pitches_are_spam_in_every_language() {
    for text in [
        "Earn £500 a day from home, DM me for details",
        "Verdien snel geld met crypto! Klik op de link in mijn bio",
        "Tjen 5000 kr om dagen hjemmefra, skriv til mig",
    ] {
        assert!(classify(text).spam, "{text}");
    }
}

#[test]
fn no_idea_why_asks_for_an_explanation_instead_of_negating_the_complaint() {
    assert_labels(
        Label::Complaint,
        &[
            "Geen idee waarom ik betaal voor 1 Gbit als ik 80 Mbit haal",
            "Sinds de overstap naar jullie alleen maar gedoe",
            "The so-called unlimited plan slows to a crawl after 20GB",
        ],
    );
}

#[test]
fn asking_for_a_product_without_a_service_is_a_question_not_an_outage() {
    assert_labels(
        Label::Question,
        &[
            "Kan ik bij jullie ook een vaste lijn zonder internet nemen?",
            "Do you do a landline plan without internet?",
        ],
    );
}

#[test]
fn praise_quoted_back_or_limited_to_when_it_works_is_a_complaint() {
    assert_sarcasm(
        true,
        Label::Complaint,
        &[
            "Thanks for the 'quick' fix, it lasted exactly one day",
            "Oh brilliant, another \"scheduled maintenance\" in the middle of the working day",
        ],
    );
    assert_labels(
        Label::Complaint,
        &[
            "Great speeds when it works, which is about half the time",
            "Snel internet, als het werkt",
        ],
    );
    classified_as("Thanks for the quick fix", Label::Praise);
}

#[test]
fn a_review_that_finds_the_service_average_is_neutral() {
    assert_labels(
        Label::Neutral,
        &[
            "Average service. Nothing special, nothing terrible. Does what it says.",
            "Gemiddelde service. Niks bijzonders, maar ook niks mis mee.",
            "Gennemsnitlig service. Intet særligt, men heller ikke noget galt.",
        ],
    );
    assert_labels(
        Label::Complaint,
        &[
            "De app is mooi maar werkt voor geen meter. Inloggen lukt bijna nooit.",
            "Kundeservice er en joke. Man bliver stillet videre og videre, og til sidst lægger de på.",
        ],
    );
}

#[test]
fn a_gap_that_matches_no_word_does_not_shadow_a_longer_phrase() {
    // "kan ... niet" matches the first two words; "kan niet eens" all three.
    let c = classified_as(
        "Kan niet eens een filmpje kijken zonder dat het hapert",
        Label::Complaint,
    );
    assert!(
        has_reason(&c, "complaint", "Kan niet eens"),
        "{:?}",
        c.reasons
    );
    assert_labels(
        Label::Complaint,
        &[
            "Kan ikke engang se en video uden at den hakker",
            "Can't even watch a YouTube video without buffering",
        ],
    );
    classified_as(
        "Endelig pakket alle kasserne ud, nu mangler vi bare internettet",
        Label::Neutral,
    );
}

#[test]
fn laughter_is_not_praise_and_texting_shorthand_still_counts() {
    assert_labels(
        Label::Neutral,
        &[
            "fjordlink ad is on again lmao",
            "haha min kat trak lige stikket ud af routeren",
        ],
    );
    classified_as("do u guys do student discounts", Label::Question);
    assert_labels(
        Label::Complaint,
        &[
            "smh another price hike",
            "wtf deze rekening?? 40 euro extra voor niks",
            "hvad fanden er det for en regning?? 300 kr ekstra for ingenting",
            "pyha endnu en prisstigning",
        ],
    );
}

#[test]
fn a_laughing_face_is_laughter_not_praise() {
    // People laugh at an ad, at themselves and at the brand's failures alike.
    assert_labels(
        Label::Neutral,
        &[
            "haha die hond in het filmpje 😂😂",
            "Haha den sidste replik i videoen 🤣🤣",
            "Just saw a Snelpost van with a Christmas tree tied to the roof 😂",
        ],
    );
    // Beside praise it is no fault for the praise to mock: the praise stays sincere.
    assert_labels(
        Label::Praise,
        &[
            "Love you @Greggs 😂❤️",
            "Whoever runs your social media deserves a raise 😂 great replies",
        ],
    );
}

#[test]
fn a_wish_is_manners_and_its_emoji_decorate_it() {
    assert_labels(
        Label::Neutral,
        &[
            "@Telnet god weekend til jer også 😊",
            "Happy Christmas to all the drivers working today 🎄",
            "Zalig weekend aan iedereen van de Colruyt in Aalst 😄",
        ],
    );
    // The words beside a wish still say what the writer thinks of the service.
    assert_labels(
        Label::Praise,
        &[
            "Merry Christmas, and thanks for sorting my router so fast 😊",
            "Fijne feestdagen, en de nieuwe app werkt echt super 👍",
            "God weekend, og tak for den hurtige hjælp i går 😊",
        ],
    );
}

#[test]
fn a_review_that_looks_back_warns_off_or_counts_the_asking_is_a_complaint() {
    assert_labels(
        Label::Complaint,
        &[
            "Used to love this app. Now there's a pop-up every time I open it",
            "appen er blevet langsom efter redesignet. den gamle var bedre",
            "Vroeger was deze supermarkt echt beter, nu is alles op",
            "Sofa ordered in March, still nothing. Avoid.",
            "Loss adjuster asked for the same photos three times.",
            "Jeg har måttet sende de samme billeder tre gange til jeres skadeafdeling",
            "Internet van Proximus ligt al heel de dag plat hier in Gentbrugge",
            "Det synes jeg ærligt talt ikke er godt nok",
        ],
    );
}

#[test]
fn a_polite_request_is_manners_not_praise() {
    for text in [
        "Travelling with a toddler tonight. Would appreciate you keeping your end of the deal and putting us up after the cancellation.",
        "Same here. Would really appreciate a follow so I can DM my booking and find out what happens now.",
    ] {
        assert_ne!(classify(text).label, Label::Praise, "{text}");
    }
}

#[test]
fn a_promise_kept_and_a_switch_not_regretted_are_praise() {
    assert_labels(
        Label::Praise,
        &[
            "Parcel arrived a day early, driver texted a 15 min window and stuck to it. No complaints at all.",
            "Overgestapt naar Streamz en ik heb er nog geen seconde spijt van. Het aanbod is echt top",
        ],
    );
    assert_labels(
        Label::Complaint,
        &[
            "Only one till open at 5pm on a Friday and the queue is down to the fruit aisle",
            "kun én kasse åben kl 17 på en fredag, køen går helt ned til frugt og grønt",
        ],
    );
}

#[test]
fn thanks_ahead_for_help_not_given_and_entering_a_contest_are_no_praise() {
    classified_as(
        "@Videoland beeld blijft om de 5 minuten hangen, bij alle andere apps werkt het prima. Alvast bedankt voor het meedenken",
        Label::Complaint,
    );
    assert_labels(
        Label::Neutral,
        &[
            "@sofie_lund den her skal vi vinde!! 🎄🎁",
            "Tillykke til vinderen 🎉 jeg prøver igen næste gang",
            "Entering! @dannyp00 this is yours if I win",
        ],
    );
    // "Typisk" says how long something usually takes; "typisk mig" blames the writer.
    classified_as(
        "Hvor lang tid tager det typisk at få behandlet en skade på en mobiltelefon hos jer?",
        Label::Question,
    );
}

#[test]
fn thanks_addressed_to_the_staff_is_heartfelt_beside_the_time_it_tells_of() {
    assert_labels(
        Label::Praise,
        &[
            "Een dikke dankjewel aan de verpleging van afdeling 5B. Ik heb er twee weken gelegen en voelde me elke dag gehoord, ook als ik weer eens niet kon slapen. Jullie zijn goud waard ❤️",
            "Kæmpe tak til chaufføren der bar min 30 kg kasse op på 4. sal uden at sige et ord om det",
        ],
    );
}

#[test]
fn plain_fault_reports_of_an_ordinary_week_are_complaints() {
    assert_labels(
        Label::Complaint,
        &[
            "4 hours in A&E with a 3yo with a temp of 40 and not one person checked on us. this isn't ok",
            "the Sky Go app logging me out every 10 minutes during the match is certainly a choice",
            "Voorschot gaat van 140 naar 230 euro per maand. Zonder enige uitleg.",
            "kan nogen forklare mig hvorfor der er 4 kasser og kun 1 åben kl 17",
        ],
    );
    classified_as(
        "Eerste keer boodschappen bij Picnic en ik ben om. supervriendelijke bezorger en alles vers",
        Label::Praise,
    );
}

#[test]
fn a_network_that_lies_flat_is_an_outage_and_asking_whether_it_does_is_a_question() {
    assert_verdicts(
        Label::Complaint,
        Urgency::Urgent,
        &[
            "Internet ligt plat hier in Gentbrugge",
            "Het internet van Proximus ligt al heel de dag plat",
        ],
    );
    classified_as("ligt payconiq plat? of is het mijn gsm", Label::Question);
}

#[test]
fn a_hazard_left_in_the_street_is_urgent() {
    assert_verdicts(
        Label::Complaint,
        Urgency::Urgent,
        &[
            "There's a Fjordlink cable hanging over the pavement at head height, someone will get hurt",
            "Your engineer left the street cabinet wide open with wires sticking out, kids play here",
            "Jullie monteur heeft de verdeelkast open laten staan met draden eruit, hier spelen kinderen",
            "Der hænger et Fjordlink-kabel ned over fortovet i hovedhøjde, det er livsfarligt",
        ],
    );
    let c = classify("The junction box outside our house is sparking, please send someone now");
    assert_eq!(c.urgency, Urgency::Urgent, "{:?}", c.reasons);
}

#[test]
fn flemish_complaints_are_complaints() {
    assert_labels(
        Label::Complaint,
        &[
            "Ge betaalt u blauw en ge krijgt er niks voor terug",
            "Wat een miserie met die nieuwe decoder, hij valt constant uit",
            "Mijn factuur is weer te hoog, ik snap er de ballen van",
            "Amai, al drie dagen geen internet en niemand die iets laat weten",
        ],
    );
}

#[test]
fn a_kind_technician_does_not_outweigh_a_problem_that_is_still_there() {
    assert_labels(
        Label::Complaint,
        &[
            "Teknikeren var flink, men problemet er der stadig",
            "The engineer was lovely but the problem is still there",
            "Aardige monteur, maar het probleem is er nog steeds",
            "Det er for langt ude at man skal betale gebyr for at få en papirregning",
        ],
    );
}

#[test]
fn american_complaints_are_complaints() {
    assert_labels(
        Label::Complaint,
        &[
            "Opened a ticket 10 days ago, zero response",
            "My bill went up $30 with zero notice",
            "Been trying to cancel for 2 weeks and they keep \"transferring\" me",
            "Speeds are nowhere near what I'm paying for",
            "Returned the equipment a month ago and still getting charged for it",
            "Lagging like crazy every night, unplayable",
        ],
    );
}

#[test]
fn praise_beside_a_long_wait_for_the_brand_is_sarcasm() {
    assert_sarcasm(
        true,
        Label::Complaint,
        &["the online chat says 47 people ahead of me. brilliant service 👏"],
    );
    // Staff waiting for a customer is not a wait for the brand.
    assert_sarcasm(
        false,
        Label::Praise,
        &["Shout out to the driver who waited for my nan. Legend."],
    );
}

#[test]
fn a_negated_function_is_a_fault_on_either_side_of_the_verb() {
    assert_labels(
        Label::Complaint,
        &[
            "@HPSupport my officejet won't print",
            "beats wireless no longer charging",
            "Tablet doesn't even connect to the wifi",
            "De printer print niet meer sinds de update",
            "Mijn telefoon laadt niet op",
            "Printeren printer ikke efter opdateringen",
            "Still unable to connect since this morning",
        ],
    );
    // Far from its negation, or not negated, the verb says nothing.
    assert_labels(
        Label::Neutral,
        &[
            "Can't remember when the parcel is meant to arrive, checking the mail",
            "The printer prints, the router connects, the tablet loads.",
        ],
    );
    // "Without" and "no" negate what follows them, never the verb before.
    for text in [
        "Works without any problems",
        "Werkt zonder problemen",
        "Virker uden problemer",
    ] {
        assert_ne!(classify(text).label, Label::Complaint, "{text}");
    }
    // A symptom explains a question; it does not make it a complaint.
    assert_labels(
        Label::Question,
        &[
            "Is there an outage in Leeds? Nothing loads",
            "My printer won't scan, any ideas?",
        ],
    );
}

#[test]
fn words_joined_in_a_camel_case_hashtag_are_read_as_words() {
    assert_labels(
        Label::Complaint,
        &[
            "@united then watched my connecting flight leave without me. #SlapInTheFace",
            "Ny router i går #VirkerIkke",
        ],
    );
    // A hashtag the lexicons know whole keeps its own meaning, and an unknown one in a single
    // case is not guessed at.
    assert_eq!(label("Lost my bag #NotHappy"), Label::Complaint);
    assert_eq!(label("Saw the new ad #fjordlinkrocks"), Label::Neutral);
}

#[test]
fn never_letting_the_customer_down_is_praise_in_each_language() {
    assert_labels(
        Label::Praise,
        &[
            "@SouthwestAir never lets me down!!!",
            "You guys continue to impress me",
            "Flight 1632 was phenomenal from gate to gate",
            "KPN laat me nooit in de steek",
            "Fjordlink har aldrig svigtet os",
        ],
    );
    assert_eq!(label("Fjordlink lets me down every time"), Label::Complaint);
}

#[test]
fn having_an_issue_or_a_problem_with_ones_own_is_a_complaint() {
    assert_labels(
        Label::Complaint,
        &[
            "@TwitterSupport I'm having a rather large issue. Please help.",
            "hello, i have an order issue, dm me.",
            "Ik heb een probleem met mijn factuur",
            "Jeg har et problem med min regning",
            "What type of service is this @VodafoneIN",
            "Wat is dit voor service?",
        ],
    );
    assert_ne!(label("Not having any issues at all"), Label::Complaint);
}

#[test]
fn help_that_did_not_come_is_a_complaint_and_help_beyond_praise_is_not() {
    assert_labels(
        Label::Complaint,
        &[
            "We still can't get anyone to help us",
            "the restart didn't help",
            "de klantenservice kon me niet helpen",
            "genstarten hjalp ikke",
        ],
    );
    assert_eq!(label("Thanks, couldn't have helped more"), Label::Praise);
    assert_ne!(label("I couldn't help but smile"), Label::Complaint);
}

#[test]
fn warning_others_off_is_a_complaint_and_advice_to_avoid_a_thing_is_not() {
    assert_labels(
        Label::Complaint,
        &[
            "Avoid at all costs",
            "Stay away from this company!",
            "Ik raad iedereen af hier te bestellen",
            "Hold jer langt væk fra dem",
            "Vil stærkt fraråde at købe gaver her",
            "Manglende service i butikken",
        ],
    );
    assert_labels(
        Label::Neutral,
        &[
            "To avoid delays, book your ticket early",
            "Stay away from the water during the storm warning",
        ],
    );
    // "stærkt" strengthens what follows; it is no praise of its own.
    assert_eq!(label("Kan stærkt anbefales"), Label::Praise);
}

#[test]
fn quiet_praise_in_reviews_is_praise() {
    assert_labels(
        Label::Praise,
        &[
            "service og det købte produkt var meget tilfredsstillende.",
            "Udmærket service og pris bestemt ok",
            "Fungerede som det skulle og jeg fik min kompensation",
            "Levering verliep probleemloos",
            "Hassle-free returns, thanks",
        ],
    );
    assert_eq!(label("Er alt i orden med jeres server?"), Label::Question);
    assert_eq!(label("Det er bestemt ikke i orden"), Label::Complaint);
}

#[test]
fn praise_granted_despite_a_fault_is_sincere() {
    assert_labels(
        Label::Praise,
        &[
            "Great crew despite the delay",
            "I was well taken care of, thanks. I'll share my positive experience (despite delay)",
            "Søde medarbejdere trods forsinkelsen",
            "I'm a big fan of the new app",
            "Thank you to the crew who handled our delayed flight so well",
            "Flyet var forsinket, men personalet holdt os orienteret. Tak",
        ],
    );
    assert_labels(
        Label::Complaint,
        &[
            "Despite three calls, still no internet",
            "Ondanks drie telefoontjes nog steeds geen internet",
            "Great, another delayed flight. Thank you!",
        ],
    );
}

#[test]
fn trying_to_reach_the_brand_and_canned_answers_are_complaints() {
    assert_labels(
        Label::Complaint,
        &[
            "i have been trying to reach dividend miles for 3 days, 20 + calls",
            "Ik probeer jullie al drie dagen te bereiken",
            "Har siden i går prøvet at komme i telefonisk kontakt med kundeservice",
            "Stop sending generic responses",
            "Weer een standaardantwoord",
            "Thanks for getting back to me. But I will find other airlines in the future.",
        ],
    );
}

/// Everyday verdicts on a service that the published lexicons lack ("absurd", "unusable",
/// "onbruikbaar", "under al kritik") are complaints; the words' other uses are not.
#[test]
fn everyday_verdicts_the_published_lexicons_lack_are_complaints() {
    assert_labels(
        Label::Complaint,
        &[
            "the case number wasn't valid. this is absurd.",
            "The app is glitchy and basically unusable",
            "Returning it was a hassle",
            "18 euros for delivery is daylight robbery",
            "Shoddy work from the installer, a real letdown",
            "De app is onbruikbaar sinds de update",
            "Wat een aanfluiting, die nieuwe tarieven",
            "Jeres kundeservice er under al kritik",
            "Det er rent røveri at tage 99 kr for levering",
            "Appen er helt i skoven efter opdateringen",
        ],
    );
    assert_labels(
        Label::Praise,
        &[
            "No hassle at all, great service",
            "Hassle-free return, thank you",
        ],
    );
    assert_labels(
        Label::Neutral,
        &[
            "Røveri i butikken i nat, politiet efterlyser vidner",
            "It was not a hassle at all",
        ],
    );
}

#[test]
fn a_letters_opening_and_closing_are_manners_not_praise() {
    assert_labels(
        Label::Complaint,
        &[
            "Beste NS, kunnen jullie uitleggen waarom de trein elke dag te laat is?",
            "@NS_online Beste NS, de trein is weer te laat",
            "Kære DSB, toget var aflyst igen i dag.",
            "Best regards, Tom. My router keeps dropping.",
            // A brand whose name is a good word, opened with a full stop.
            "Kære Tryg. Min skadesag har nu været åben i 10 uger, ingen sagde et ord.",
        ],
    );
    for text in [
        "Beste NS, kunnen jullie uitleggen waarom de trein elke dag te laat is?",
        "Kære DSB, toget var aflyst igen i dag.",
    ] {
        assert!(
            !sarcastic(&classify(text)),
            "{text}: {:?}",
            classify(text).reasons
        );
    }
    assert_labels(
        Label::Neutral,
        &["Met vriendelijke groet, Jan", "Venlig hilsen Mette"],
    );
    // Anywhere but at the opening, the word keeps its meaning.
    assert_labels(
        Label::Praise,
        &[
            "Beste service ooit. Top!",
            "De lieve mevrouw aan de balie hielp me snel",
            "Dear Tesco, great service today",
        ],
    );
}

#[test]
fn a_why_beside_another_grievance_is_the_complaint() {
    assert_labels(
        Label::Complaint,
        &[
            "Waarom is de melk altijd op bij de AH in Noord?",
            "Why do my trains always run late?",
        ],
    );
    // A why about how a thing works still asks.
    assert_labels(
        Label::Question,
        &[
            "Why does my router have two wifi networks?",
            "Hvorfor har min router to wifi-netværk?",
        ],
    );
}

#[test]
fn a_status_that_is_still_shown_is_a_wait() {
    assert_labels(
        Label::Complaint,
        &[
            "My parcel is still in transit",
            "Mijn pakket is nog steeds onderweg",
            "Bestilt d. 3., i dag er det d. 17., og sporingen siger stadig \"pakken er undervejs\". @PostNord",
            "Volgens track & trace ligt mijn pakket nog steeds \"in het sorteercentrum\". @PostNL",
        ],
    );
    assert_labels(Label::Praise, &["Still the best provider"]);
}

#[test]
fn never_having_had_trouble_is_praise_in_each_language() {
    assert_labels(
        Label::Praise,
        &[
            "Six years with Harbour Insurance and never once had a problem with a claim.",
            "Al 10 jaar bij Rabobank en nog nooit gedoe gehad. Zo hoort het.",
            "Har været hos Topdanmark i 8 år og aldrig haft bøvl med en eneste skade.",
            "Intet at udsætte. Bilen var ren og klar til tiden.",
            "Kan ikke sige et ondt ord om Nordeas svindelafdeling, de stoppede betalingen.",
            "Niets op aan te merken, snel geleverd",
        ],
    );
    assert_labels(
        Label::Complaint,
        &["Zo hoort het niet, drie weken zonder internet"],
    );
}

#[test]
fn a_calm_report_of_what_someone_announced_is_news() {
    assert_labels(
        Label::Neutral,
        &[
            "NorthRail drivers to strike on 14 and 15 March after pay talks broke down, union confirms.",
            "St Mary's Hospital will open its new maternity wing on 2 June, the trust said today.",
            "Vakbonden kondigen nationale spoorstaking aan op 12 juni, verstoorde dienstregeling.",
            "Lokomotivførerne varsler strejke fredag med store forsinkelser på S-togene.",
        ],
    );
    // A customer who speaks of themselves is no news, whatever was announced.
    assert_labels(
        Label::Complaint,
        &["NS kondigt weer een staking aan en ik sta al een uur op het perron te wachten"],
    );
}

#[test]
fn an_ads_question_asks_nobody_anything() {
    assert_labels(
        Label::Neutral,
        &[
            "Telenet zoekt techniekers voor de regio Kortrijk. Interesse? Solliciteer via de website.",
            "WIN a year of free groceries 🛒 Follow @FreshMart and tag the friend who always forgets the milk #competition",
        ],
    );
}

#[test]
fn nobody_saying_a_word_or_nothing_arriving_is_a_complaint() {
    assert_labels(
        Label::Complaint,
        &[
            "Outpatients at St Mary's. Appointment 9:15, seen at 12:40, nobody said a word to us in between.",
            "Ambulatoriet på Rigshospitalet: tid kl. 9.30, kom ind kl. 12.10. Ingen sagde et ord til os imens.",
            "Elgiganten lovede levering mellem 8 og 12. Klokken er 15.40. Intet opkald, ingen sms.",
            "Wolt-ordren kom efter en time. Pommes frites kolde og dippen manglede.",
            "8 years a customer and you won't even match your new-customer price.",
        ],
    );
    // A time of day is no duration.
    assert_labels(
        Label::Praise,
        &["Coolblue weer helemaal top: vanochtend besteld, vanavond om negen uur al aangesloten."],
    );
}

#[test]
fn question_marks_after_a_fault_with_nothing_asked_are_exasperation() {
    assert_labels(
        Label::Complaint,
        &["5A kom ikke. Næste 5A kom heller ikke. Movia??"],
    );
    // A fault asked about in a sentence of its own is still a question.
    assert_labels(
        Label::Question,
        &[
            "Is the app down? Getting an error when I try to log in",
            "hi is there an issue with email at the moment? mine won't sync",
        ],
    );
}

#[test]
fn stars_counted_in_words_are_a_rating() {
    assert_labels(
        Label::Complaint,
        &[
            "1 stjerne indtil Danske Bank får det fikset.",
            "One star. Avoid.",
            "Would give them 0 stars if I could",
            "2 sterren, de bezorger belde niet aan",
            "3 stjerner er gavmildt. Værelset var rent, men væggene er så tynde at vi hørte naboerne hele natten.",
        ],
    );
    assert_labels(
        Label::Praise,
        &[
            "Gave it 4 stars, delivery was quick",
            "5-star service from the team",
        ],
    );
    // "En stjerne" is a star of a person, not a rating.
    assert_labels(Label::Praise, &["Du er en stjerne, tak for hjælpen"]);
}

#[test]
fn a_brands_own_notice_of_works_is_news() {
    assert_labels(
        Label::Neutral,
        &[
            "Heads up: we're upgrading the network in parts of Galway overnight Tuesday, so you may briefly lose signal between 1am and 4am. Thanks for bearing with us.",
            "Tussen Utrecht en Arnhem rijden dit weekend geen treinen door werkzaamheden. NS zet bussen in.",
            "Vandet lukkes på dele af Jagtvej i morgen kl. 9-15 pga. ledningsarbejde. Vi beklager ulejligheden.",
            // A notice may close with a wish and its exclamation mark.
            "Husk: fra 17. til 21. april kører togbusser mellem Roskilde og Holbæk pga. sporarbejde. Tjek din rejse før du tager afsted. God påske!",
        ],
    );
    // The customer who is hit by it is no notice, nor one who cries out about it.
    assert_labels(
        Label::Complaint,
        &[
            "Door werkzaamheden rijden er geen treinen en ik sta al een uur te wachten",
            "Togbusser mellem Roskilde og Holbæk hele påsken pga. sporarbejde. Tjek din rejse, siger de! God påske!",
        ],
    );
}

#[test]
fn thanks_that_cannot_be_said_enough_and_a_fix_that_held_are_praise() {
    assert_labels(
        Label::Praise,
        &[
            "Shoutout to the nurses on ward 7 who looked after my mum. Can't thank you enough ❤️",
            "Internet viel al twee weken elke avond weg, vandaag de monteur langs gehad (Mark, topper!), nieuwe aansluiting erin en sindsdien rotsvast. Dank!",
            "Pakket gewoon de volgende dag binnen, zoals beloofd. Prima.",
        ],
    );
}

#[test]
fn a_status_quoted_after_still_says_is_a_wait_and_an_outage_since_a_time_is_a_complaint() {
    assert_labels(
        Label::Complaint,
        &[
            "Order placed Monday 9am, it's Thursday night and tracking still says 'preparing your order'.",
            "Power out on Ballymun Road since 14:20, nothing on the map yet. Just flagging it.",
            "Stroompanne in de Kerkstraat sinds 19u15. Fluvius, ter info.",
        ],
    );
}

#[test]
fn the_brands_words_quoted_back_are_a_complaint_and_a_quoted_name_is_not() {
    assert_labels(
        Label::Complaint,
        &[
            "£94.50 ticket + £14.20 'service fee' + £3.75 'order processing fee'. processing WHAT exactly",
            "Royal Mail 'Sorry we missed you' card through the door. I was in. I was sat right by the door all day.",
            "Deliveroo, mijn bestelling staat op 'geleverd' maar er is hier niks aangekomen. Hoe kan da nu?",
        ],
    );
    assert_labels(
        Label::Neutral,
        &[
            "My dad still calls every router \"the Fjordlink box\" 😂",
            "Min mormor kalder stadig alle apps for 'MobilePay'. Også Instagram.",
        ],
    );
    // An apostrophe in or after a word quotes nothing.
    let c = classify("The drivers' union says it's over, they'll be 'back' soon");
    let quoted: Vec<_> = c
        .reasons
        .iter()
        .filter(|r| r.cue == "quoted back")
        .collect();
    assert_eq!(quoted.len(), 1, "{:?}", c.reasons);
    assert_eq!(quoted[0].text, "'back'");
    // Nor does one inside the quoted words close the quote.
    let c = classify("Reported it twice and got the automated 'we're aware' email");
    assert!(
        has_reason(&c, "complaint", "'we're aware'"),
        "{:?}",
        c.reasons
    );
    // A post quoted whole, as old retweets were, is not the brand's words quoted back.
    let c = classify("“@JetBlue: Our fleet's on fleek.” why");
    assert!(
        c.reasons.iter().all(|r| r.cue != "quoted back"),
        "{:?}",
        c.reasons
    );
}

#[test]
fn a_fault_beside_heartfelt_praise_was_put_right_not_mocked() {
    assert_sarcasm(
        false,
        Label::Praise,
        &[
            "Boiler died Sunday night, the engineer was here Monday 8am and it was running by 9. Can't fault them.",
            "Sinds onze bakkerij via Mollie betaalt: uitbetaling de volgende dag en nul storingen. Aanrader!",
            "5/5 Beste frietkot van Leuven. Frieten krokant en wachten valt altijd mee.",
        ],
    );
    // Mockery keeps its marks.
    assert!(sarcastic(&classified_as(
        "Cancelled again. Very helpful 🙄",
        Label::Complaint
    )));
}

#[test]
fn the_writers_own_money_leans_to_a_grievance() {
    let c = classified_as(
        "Danske Bank har opkrævet 150 kr i gebyr for et kontoudtog på papir som jeg aldrig har bedt om",
        Label::Complaint,
    );
    assert!(has_reason(&c, "complaint", "150 kr"), "{:?}", c.reasons);
    // A price in an ad speaks of nobody's money.
    let ad =
        classify("Nieuw bij Colruyt: Boni pasta in 4 varianten, nu aan introductieprijs van €0,99");
    assert!(
        ad.reasons.iter().all(|r| r.cue != "money"),
        "{:?}",
        ad.reasons
    );
    assert_ne!(ad.label, Label::Complaint);
}

#[test]
fn the_brands_own_signed_reply_asks_nobody_for_an_answer() {
    assert_labels(
        Label::Neutral,
        &[
            "@markh_77 Sorry to hear that, Mark. Can you DM us your tracking number and we'll look into it? ^JT",
            "@tomvdberg Vervelend om te horen Tom! Wil je ons even een DM sturen met je klantnummer? ^Sanne - Veldnet",
            "@TomBriggs_ Hi Tom, the 17:18 is running 12 minutes late due to a signalling fault. We'll keep you posted ^SD",
            "Hej Mette, det er vi kede af at høre. Vil du sende dit ordrenummer i en privat besked, så kigger vi på det? /Louise, Wolt Danmark",
        ],
    );
    // A customer who signs in jest is still a customer.
    assert_labels(
        Label::Complaint,
        &[
            "@united Your loyalty team hung up on me twice. It is insulting. ^HA",
            // A slash inside a link signs nothing.
            "My third outage this week and all I get is we apologise for any inconvenience, see https://status.fjordlink.net/Incidents",
        ],
    );
}

#[test]
fn a_word_set_to_zero_is_a_plain_word_with_no_reason() {
    // The published Danish list scores "præcis" negative; the lexicons set it to 0.
    let c = classify("@mettehjort præcis det samme her, min pakke fra Fragtly er også forsinket");
    assert!(
        c.reasons
            .iter()
            .all(|r| !r.text.to_lowercase().starts_with("præcis")),
        "{:?}",
        c.reasons
    );
    assert_eq!(c.label, Label::Complaint);
}

#[test]
fn words_that_name_a_thing_in_brand_talk_are_no_praise() {
    // "yes" to an agent, hand luggage, a travel credit: the published list scores them
    // positive; the lexicons set them to 0.
    for text in [
        "@SkywayAir hand luggage had to go in the hold, clearly not enough room for everyone",
        "@Fastpost yes I did, the driver left it out in the rain.",
        "@SkywayAir they gave me a 30 pound credit for a cancelled flight",
    ] {
        let c = classify(text);
        assert_ne!(c.label, Label::Praise, "{text}: {:?}", c.reasons);
        assert_ne!(c.polarity, Polarity::Positive, "{text}: {:?}", c.reasons);
    }
}

#[test]
fn a_fix_asked_for_is_no_praise() {
    let asked = |c: &Classification| c.reasons.iter().any(|r| r.cue == "asked for");
    for text in [
        "@Quokka is it fixed yet?",
        "@Quokka has this been sorted yet? third day without data",
        "@Glasnet is het al opgelost?",
        "@Fibia er det løst nu?",
    ] {
        let c = classify(text);
        assert!(asked(&c), "{text}: {:?}", c.reasons);
        assert_ne!(c.label, Label::Praise, "{text}");
        assert_ne!(c.polarity, Polarity::Positive, "{text}: {:?}", c.reasons);
    }
    // Thanks beside a fix asked for are meant, not mockery of the fault before them.
    let c = classify(
        "Mijn internet valt elke avond weg. Dank je, Fjordlink. Laat je het weten als het opgelost is?",
    );
    assert!(!sarcastic(&c), "{:?}", c.reasons);
    assert_eq!(c.label, Label::Question, "{:?}", c.reasons);
    // A fix told in a clause of its own before the question is still told.
    let c = classify("Fixed in ten minutes, can I thank the engineer somewhere?");
    assert_eq!(c.polarity, Polarity::Positive, "{:?}", c.reasons);
    assert!(!asked(&c), "{:?}", c.reasons);
}

#[test]
fn a_word_quoted_back_among_others_is_the_brands_not_the_writers() {
    // A good word inside a short quote is the brand's promise, held up against what happened.
    let c = classify(
        "The coverage map promises \"excellent 5G\" at our cabin. I cannot even send a text from there.",
    );
    assert_eq!(c.label, Label::Complaint, "{:?}", c.reasons);
    assert!(sarcastic(&c), "{:?}", c.reasons);
    // A status quoted back with the words around it is a fault, as the status alone is.
    let c = classify("Ifølge appen er pakken \"leveret til naboen\". Ingen af naboerne har den.");
    assert_eq!(c.label, Label::Complaint, "{:?}", c.reasons);
    // An apostrophe inside a word opens no quote.
    let c = classify("Can't fault the staff at the Leeds store, they're excellent");
    assert_eq!(c.label, Label::Praise, "{:?}", c.reasons);
}

#[test]
fn a_question_after_a_typed_dash_starts_its_own_sentence() {
    // " - " is the keyboard's dash: "can I" after it opens a question as after "–" or ".".
    let c = classify(
        "@Telnet quick one - can I go from 30GB to unlimited mid-contract or do I wait till renewal",
    );
    assert_eq!(c.label, Label::Question, "{:?}", c.reasons);
}

#[test]
fn a_post_marked_as_paid_is_an_advertiser_speaking() {
    for text in [
        "Ny kunde i Fjordbank? Få 0 kr i gebyrer det første år på Basiskonto 👉 fjordbank.dk/skift #annonce",
        "GoGo squeeZ is a great snack for on the go #sponsored",
        "Nieuw: de Veldnet Wifi-booster, nu met 20% korting. Wat vind jij ervan? #adv",
    ] {
        let c = classify(text);
        assert!(c.spam, "{text}: {:?}", c.reasons);
        assert_eq!(c.label, Label::Neutral, "{text}");
    }
    // The word on its own is no mark: an ad is something a customer may complain about.
    assert_labels(
        Label::Complaint,
        &[
            "An ad before every single episode on Streamly now. Ridiculous, I pay £12 a month for this.",
        ],
    );
}

#[test]
fn a_household_speaks_of_its_own_money_as_ours() {
    let c = classify("Our energy bill from Ovalis went up £40 a month without a word");
    assert!(has_reason(&c, "complaint", "£40"), "{:?}", c.reasons);
    let c = classify("Vores vandregning fra Aaby Vand er steget med 4.000 kr på et år");
    assert!(has_reason(&c, "complaint", "4.000 kr"), "{:?}", c.reasons);
    // "We" is a spokesperson's word too: a quoted statement stays a report.
    assert_labels(
        Label::Neutral,
        &[
            "'We zien dat steeds meer klanten overstappen op glasvezel,' aldus een woordvoerder van KPN tegenover het FD.",
        ],
    );
}

#[test]
fn ratings_quotes_and_amounts_are_found_in_any_case_mark_and_currency() {
    let span = |text: &str, cue: &str| {
        let c = classify(text);
        c.reasons
            .iter()
            .find(|r| r.cue == cue)
            .map(|r| r.text.clone())
            .unwrap_or_else(|| panic!("no {cue} in {text:?}: {:?}", c.reasons))
    };
    assert_eq!(span("ONE STAR. Never again", "rating"), "ONE STAR");
    assert_eq!(span("Solid 5-star stay, thank you", "rating"), "5-star");
    assert_eq!(span("Kun 2  stjerner fra mig", "rating"), "2  stjerner");
    assert_eq!(
        span(
            "Mijn pakket staat al dagen op “onderweg” en er gebeurt niks",
            "quoted back"
        ),
        "“onderweg”"
    );
    assert_eq!(
        span("Status: «afsendt» siden mandag, intet sket", "quoted back"),
        "«afsendt»"
    );
    assert_eq!(span("I paid $ 20 for nothing", "money"), "$ 20");
    assert_eq!(
        span("Ik betaalde 99,- voor een kapotte lader", "money"),
        "99,-"
    );
    assert_eq!(
        span("Jeg har betalt 1.250 DKK for ingenting", "money"),
        "1.250 DKK"
    );
    // No star word, quote or amount: nothing of the kind is read.
    let plain = classify("Still waiting for a start date, staff say next week");
    assert!(
        plain
            .reasons
            .iter()
            .all(|r| !matches!(&*r.cue, "rating" | "quoted back" | "money")),
        "{:?}",
        plain.reasons
    );
}

#[test]
fn praise_told_first_keeps_a_question_after_it_as_an_aside() {
    assert_labels(
        Label::Praise,
        &[
            "Glemte min taske på toget til Odense. DSB's hittegods fandt den og sendte den hjem til mig samme uge. Meget imponeret. Kan man sende ros videre til togpersonalet et sted?",
            "De nye selvbetjeningskasser i Føtex er faktisk rigtig gode og går hurtigt. Kommer de også til Holstebro?",
        ],
    );
    // Asked first, or with nothing good told apart from it, it is a question.
    assert_labels(
        Label::Question,
        &[
            "Kommer de nye selvbetjeningskasser også til Holstebro? De er rigtig gode.",
            "Great app, how do I export my data?",
        ],
    );
}

#[test]
fn a_fault_supposed_in_a_question_is_asked_about_not_suffered() {
    assert_labels(
        Label::Question,
        &[
            "Hvad sker der med min saldo på Rejsekort, hvis jeg mister kortet?",
            "@bol kan ik een bestelling nog wijzigen als die al op 'in behandeling' staat?",
            "@netflix do downloaded episodes still work if I'm abroad with no wifi?",
        ],
    );
    let c = classified_as("What happens if my parcel is delayed?", Label::Question);
    assert!(has_reason(&c, "question", "if"), "{:?}", c.reasons);
    // A supposition that is not asked, or a fault told before the "if", is still a complaint.
    assert_labels(
        Label::Complaint,
        &[
            "If the router drops out once more tonight I'm cancelling.",
            "Waarom valt mijn internet elke keer uit als het regent?",
        ],
    );
}

#[test]
fn a_doubled_question_mark_after_a_fault_is_exasperation() {
    assert_labels(
        Label::Complaint,
        &[
            "Is the Vodafone app down?? Nothing loads",
            "jyske netbank nede igen?? kan ik logge ind med MitID. sker åbenbart hver fredag",
        ],
    );
    // One mark after a sentence asks.
    assert_labels(
        Label::Question,
        &["Is the Vodafone app down? Nothing loads"],
    );
}

#[test]
fn the_writers_own_mistake_is_no_grievance() {
    assert_labels(
        Label::Question,
        &[
            "@bol ik heb de verkeerde maat besteld, mijn eigen fout. Hoe stuur ik iets retour als ik geen printer heb?",
        ],
    );
}

#[test]
fn staff_who_roll_their_eyes_are_a_complaint() {
    assert_labels(
        Label::Complaint,
        &[
            "The woman on the desk at Asda rolled her eyes when I asked about a price. No need for that attitude.",
            "Bediende in het postkantoor deed alsof ik hem stoorde en rolde met zijn ogen.",
            "Ekspedienten himlede med øjnene, da jeg spurgte ind til garantien.",
        ],
    );
}

#[test]
fn love_how_beside_a_fault_mocks_it_and_beside_speed_praises_it() {
    assert_sarcasm(
        true,
        Label::Complaint,
        &["Love how Avanti manage to cancel the 18:43 out of Euston every single Friday."],
    );
    assert_labels(
        Label::Praise,
        &["Amazing how fast you sorted my lost card, new one in 2 days"],
    );
}

#[test]
fn star_counts_are_read_in_dutch_and_danish_words() {
    assert_labels(
        Label::Praise,
        &["Vijf sterren voor huisartsenpraktijk Zeist-West. Binnen een dag terecht."],
    );
    assert_labels(
        Label::Complaint,
        &["To stjerner. Maden kom kold frem og buddet ringede ikke på."],
    );
}

#[test]
fn a_fault_put_right_within_a_short_time_is_praise_not_sarcasm() {
    assert_sarcasm(
        false,
        Label::Praise,
        &[
            "Thank you @HDFC_Bank, lost my debit card in Pune and it was blocked and reissued within 2 days. Very smooth process 👍",
            "Ik had bij Eneco een veel te hoge jaarafrekening door een verkeerd ingelezen meterstand. Eén telefoontje, binnen vijf minuten gecorrigeerd en excuses erbij. Zo kan het dus ook.",
        ],
    );
    // A promise of a time that was broken is still the complaint.
    assert_labels(
        Label::Complaint,
        &["They promised a refund within 5 days. It's been three weeks and nothing."],
    );
}

#[test]
fn again_said_as_a_sentence_of_its_own_makes_lone_praise_beside_it_mockery() {
    assert_sarcasm(
        true,
        Label::Complaint,
        &[
            "Vodafone down. Again. Brilliant.",
            "Telia nede. Igen. Fantastisk.",
            "NS. Alweer. Top.",
        ],
    );
    // "Again" inside a sentence of good news is no exasperation.
    assert_labels(Label::Praise, &["Delivered again on time. Great."]);
}

#[test]
fn danish_counts_that_are_english_words_rate_only_danish_stars() {
    assert!(
        classify("Remember to star the repo if it helped you")
            .reasons
            .iter()
            .all(|r| r.cue != "rating")
    );
    assert_labels(Label::Complaint, &["To stjerner. Leveringen tog en uge."]);
}

#[test]
fn a_question_mark_in_brackets_is_an_aside() {
    assert_labels(
        Label::Praise,
        &[
            "Dank je wel aan de bezorger (Mohammed geloof ik?) die mijn pakket droog legde. Topper!",
            "Shout out to Kristie (sp?) at gate 4 today, a tremendous help.",
        ],
    );
    assert_labels(
        Label::Question,
        &["Does the app (the new one) work on an iPad?"],
    );
}

#[test]
fn a_count_written_as_an_ordinal_is_a_repeat() {
    assert_labels(
        Label::Complaint,
        &[
            "Nu skal jeg for 3. gang forklare hele min sag til en ny medarbejder.",
            "Voor de 4de keer mijn hele verhaal doen aan een andere medewerker.",
            "3rd time this month I have to explain my whole case to someone new.",
        ],
    );
}

#[test]
fn a_negated_fault_is_no_praise_and_an_emoji_is_never_negated() {
    assert_labels(
        Label::Complaint,
        &[
            "Flight missed due to a mechanical issue. No food voucher, no rental reimbursement 😡",
            "No email today :( checked spam and everything",
        ],
    );
    assert_labels(
        Label::Neutral,
        &["I have patience but none for incompetence."],
    );
    // Praise meant by a negation stands in the lexicons as a phrase.
    assert_labels(
        Label::Praise,
        &[
            "Not bad at all, the new app.",
            "Never disappointed by the app.",
        ],
    );
}

#[test]
fn a_cue_that_carries_its_own_negation_is_not_turned_by_one_before_it() {
    assert_labels(
        Label::Complaint,
        &[
            "Not one call and no refund after six weeks.",
            "Ikke ringet og ingen refusion efter seks uger.",
        ],
    );
}

#[test]
fn leaving_said_after_the_last_question_is_a_complaint_and_asked_about_a_question() {
    assert_labels(
        Label::Complaint,
        &["Er der nogen der ved hvornår det virker? Jeg skifter selskab."],
    );
    assert_labels(
        Label::Question,
        &["I want to cancel my contract. How do I do that?"],
    );
}

#[test]
fn strong_words_about_the_match_or_the_series_are_not_about_the_brand() {
    assert_labels(
        Label::Neutral,
        &[
            "Useless referee, shocking decisions all night. Taking the GreenLine bus home in a mood.",
            "Wat een waardeloze scheidsrechter. Nu met de trein van Spoorland naar huis.",
            "Sikke en elendig dommer. Tager Arriva-toget hjem nu.",
            "Watched it on Kijkbox: the ending was awful, the writers should be ashamed.",
            "Regeringen er en katastrofe. Sidder på Nordtel-wifi og læser nyheder.",
        ],
    );
    // A cue that speaks of the service itself keeps the strong words beside it.
    assert_labels(
        Label::Complaint,
        &[
            "Useless referee, and the GreenLine stream kept freezing all night. Awful.",
            "Wat een waardeloze scheidsrechter en de app van Ziggo viel drie keer uit.",
        ],
    );
    // Without a subject of its own, the same words judge the brand.
    assert_labels(
        Label::Complaint,
        &["Useless GreenLine bus, shocking driving all night."],
    );
}

#[test]
fn a_question_asked_in_anger_at_another_subject_asks_the_brand_nothing() {
    assert_labels(
        Label::Neutral,
        &[
            "Worst referee ever. How is that NOT a penalty?? Watching it on Streamly at my mum's.",
            "Ben ik de enige die het debat gisteren een circus vond? Keek het via Kijkbox.",
            "Så sidste afsnit af Havnen på FlimmerPlay, og hvad fanden var det for en slutning??",
        ],
    );
    // Asked calmly, about watching it, it is a question for the brand.
    assert_labels(
        Label::Question,
        &["Is the match on Streamly tonight or only on the sports package?"],
    );
}

#[test]
fn words_that_name_another_subject_only_in_sport_leave_the_brand_its_blame() {
    // "de spits" is rush hour on a train, "valget" a choice, "slutningen" the end of anything.
    assert_labels(
        Label::Complaint,
        &[
            "Trein van Spoorland in de spits: waardeloos en vies.",
            "Valget af abonnement hos Nordtel var elendigt forklaret, pinligt.",
            "I slutningen af samtalen med Nordtel blev jeg bare mødt af en elendig tone.",
        ],
    );
}

#[test]
fn a_phrase_written_a_word_a_sentence_is_still_the_phrase() {
    // "every single time" is a repeat, however it is spelt out.
    assert_labels(
        Label::Complaint,
        &["Why does the app take a minute to open @CoinBank? Every. Single. Time."],
    );
}

#[test]
fn time_told_with_a_laugh_and_nothing_wrong_is_a_story() {
    assert_labels(
        Label::Neutral,
        &[
            "Mijn opa noemt elke laptop nog steeds \"de Fjordlink computer\" 😂",
            "Onze hond slaapt nog steeds elke dag op de doos van Pakketpost haha",
            "Hver gang jeg siger Fjordbanken, tror min mormor det er en sandbanke 😂",
        ],
    );
    // A fault or a bad word beside the laugh keeps the complaint.
    assert_labels(
        Label::Complaint,
        &[
            "Three hours on hold with Fjordlink and still no answer 😂 unreal",
            "Pakket ligt al twee weken kwijt bij Pakketpost haha, geweldig",
        ],
    );
}

#[test]
fn an_ad_that_opens_with_switch_to_is_no_customer_leaving() {
    assert_labels(
        Label::Neutral,
        &[
            "Switch to Velotel SIM-only this month and get 60GB for £12 a month.",
            "Stap nu over naar Zenmobiel en krijg drie maanden gratis Netflix.",
            "Skift til Nordtel i dag og få 100 GB data.",
        ],
    );
    // Said by a customer, it is still leaving.
    assert_labels(
        Label::Complaint,
        &["Third outage this week, I'm going to switch to Velotel."],
    );
}

#[test]
fn what_the_writer_expected_is_not_what_happened() {
    assert_labels(
        Label::Praise,
        &[
            "Rang Ember expecting an hour on hold and got through in 3 minutes to a lovely fella",
            "Vores vaskemaskine døde søndag. Power hentede den tirsdag og vi fik en ny samme dag. Havde regnet med at vi skulle vaske i hånden i ugevis. Respekt.",
            "Belde vanochtend met de Belastingdienst, verwachtte een uur wachten en een bot. Binnen 5 minuten een mevrouw aan de lijn die het in één keer voor me oploste. Dank u.",
        ],
    );
    // Said after the fear, as Dutch puts the verb last, it looks back over its clause; and a
    // fix counted on did not come either.
    for (text, not) in [
        (
            "Had uren in de wacht verwacht, kreeg meteen een medewerker.",
            Label::Complaint,
        ),
        ("Ik rekende op mijn borg binnen 14 dagen.", Label::Praise),
    ] {
        let c = classify(text);
        assert_ne!(c.label, not, "{text}: {:?}", c.reasons);
        assert!(cites(&c, "expected"), "{text}: {:?}", c.reasons);
    }
    // What one waits for is no fear; a fault well after the word, or after a turn, is told.
    assert_labels(
        Label::Complaint,
        &[
            "I expected the parcel on Monday and now it's Friday and it still hasn't come",
            "Expecting a refund for 3 weeks now, nothing",
            "I've been expecting my refund for 3 weeks now",
            "Expected a quick fix but it's been 3 weeks without internet",
            "Delayed again, as expected.",
            "Forventede pakken i går, den er stadig ikke kommet",
            // Dutch "verwacht" is also "I expect": it looks back only over the clause it ends.
            "Ik verwacht nu wel compensatie voor 3 dagen zonder internet",
        ],
    );
}

#[test]
fn star_emoji_that_open_a_review_or_come_as_five_rate_it() {
    let five = classified_as(
        "⭐⭐⭐⭐⭐ Beste oliebollen van de stad en nu in januari nog steeds het lekkerste desembrood. Altijd vriendelijk, ook als de rij tot buiten staat.",
        Label::Praise,
    );
    assert_eq!(five.urgency, Urgency::Normal);
    assert!(!sarcastic(&five), "{:?}", five.reasons);
    assert!(
        has_reason(&five, "praise", "⭐⭐⭐⭐⭐"),
        "{:?}",
        five.reasons
    );
    let one = classified_as(
        "⭐ Bestilte en sofa i marts. Den er blevet leveret i god stand og montøren var flink.",
        Label::Complaint,
    );
    assert!(has_reason(&one, "complaint", "⭐"), "{:?}", one.reasons);
    let late = classify("hurtig levering og pænt pakket. kommer helt sikkert igen ⭐⭐⭐⭐⭐");
    assert!(cites(&late, "rating"), "{:?}", late.reasons);
    // A star that rates counts as the rating, not as a cheerful emoji.
    classified_as(
        "⭐ Braced myself for the usual 40 min hold and honestly 40 min would've been a treat. 1hr 52. Then cut off when they tried to transfer me. Fantastic stuff",
        Label::Complaint,
    );
    // One star later in a post is a star, not a rating.
    let star = classified_as(
        "Sarah at the Leeds branch, you're a star ⭐ thank you",
        Label::Praise,
    );
    assert!(!cites(&star, "rating"), "{:?}", star.reasons);
}
