#!/usr/bin/env python3
"""Converts the published sentiment lexicons in sources/ into webcare's lexicon format.

Run from anywhere, with only the Python standard library:

    python3 config/lexicons/convert.py

It writes en/published.txt, nl/published.txt, da/published.txt and common/emoji-published.txt.
Those files are generated: edit the sources or the weights below, not the output. Every
phrase that webcare's own files (sentiment.txt, cues.txt, grammar.txt, emoji.txt, spam.txt)
already define is left out, so the project's hand-written entries, cues and grammar always win.

The weights scale each published score onto webcare's -3 … +3 range and were chosen on the
development sets in fixtures/eval/ (see README.md beside this script for the figures).
"""

import argparse
import math
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources"

# How much of a published score is kept. VADER scores run -4 … +4, pattern's polarity
# -1 … +1, AFINN -5 … +5; these map them onto -3 … +3 and then damp them, because a
# published word is a weaker signal than one the team picked for brand talk.
WEIGHTS = {"en": 1.0, "nl": 1.0, "da": 1.0, "emoji": 1.0}

# Published scores (on the -3 … +3 scale, before weighting) below this say too little: in
# brand talk a mildly coloured word ("fair", "wish", "energy") is more often neutral.
MIN_SCORE = 1.2
MAX_SCORE = 3.0


def project_phrases(folder):
    """Every phrase the project's own files in `folder` define, lower-cased."""
    out = set()
    for f in sorted(folder.glob("*.txt")):
        if "published" in f.name:
            continue
        for raw in f.read_text(encoding="utf-8").splitlines():
            line = raw.split(" # ", 1)[0].strip()
            if not line or line == "#" or line.startswith("# ") or line.startswith("["):
                continue
            phrase = line.rsplit("=", 1)[0].strip() if "=" in line else line
            out.add(phrase.lower())
    return out


# A word as webcare's tokenizer sees it: letters, with inner apostrophes or hyphens.
WORD = re.compile(r"^[^\W\d_]+(?:['’-][^\W\d_]+)*(?: [^\W\d_]+(?:['’-][^\W\d_]+)*)*$")


def clamp(v):
    return max(-MAX_SCORE, min(MAX_SCORE, v))


def write(path, header, entries):
    lines = [f"# {h}" if h else "#" for h in header]
    lines += ["", "[sentiment]"]
    for phrase in sorted(entries):
        lines.append(f"{phrase} = {entries[phrase]:.2f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{path}: {len(entries)} entries", file=sys.stderr)


def vader_words():
    """VADER's lexicon: token TAB mean valence TAB sd TAB ratings."""
    scores = {}
    text = (SOURCES / "vader" / "vader_lexicon.txt").read_text(encoding="utf-8")
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        cols = raw.split("\t")
        if len(cols) < 2:
            sys.exit(f"sources/vader/vader_lexicon.txt:{n}: expected token<TAB>score")
        scores[cols[0].strip().lower()] = float(cols[1])
    return scores


def convert_vader(weight):
    own = project_phrases(HERE / "en")
    out = {}
    for word, v in vader_words().items():
        # Emoticons and symbols stay in common/emoji.txt, which the team keeps.
        if not WORD.match(word) or word in own:
            continue
        if abs(v * 0.75) >= MIN_SCORE:
            out[word] = round(clamp(v * 0.75 * weight), 2)
    return out


def convert_vader_emoji(weight):
    """VADER scores an emoji by the words of its name ("face with tears of joy"); so do we,
    once, here. Sequences of several code points are left out: webcare matches an emoji by
    its first code point, and a family or flag sequence would claim that of a plain emoji."""
    words = vader_words()
    own = project_phrases(HERE / "common")
    out = {}
    text = (SOURCES / "vader" / "emoji_utf8_lexicon.txt").read_text(encoding="utf-8")
    for raw in text.splitlines():
        if "\t" not in raw:
            continue
        emoji, name = raw.split("\t", 1)
        emoji = emoji.strip().replace("\ufe0f", "")
        if len(emoji) != 1 or emoji in own or ord(emoji) < 0x2000:
            continue
        v = sum(words.get(w, 0.0) for w in re.findall(r"[a-z']+", name.lower()))
        if abs(v * 0.75) >= MIN_SCORE:
            out[emoji] = round(clamp(v * 0.75 * weight), 2)
    return out


def dutch_inflections(adj):
    """The attributive forms of a Dutch adjective ("goed" → "goede", "snel" → "snelle",
    "groot" → "grote", "boos" → "boze"). A wrong guess costs nothing: it never matches."""
    forms = []
    if adj.endswith("e") or len(adj) < 3:
        return forms
    vowels = "aeiouy"
    last, prev, prev2 = adj[-1], adj[-2], adj[-3]
    if adj.endswith(("lijk", "ig", "isch", "en", "er", "el")) or last in vowels or adj.endswith("ij"):
        forms.append(adj + "e")
    elif prev in vowels and prev2 == prev:
        # A long vowel written double loses one letter in an open syllable; f and s voice.
        stem = adj[:-2] + {"f": "v", "s": "z"}.get(last, last)
        forms.append(stem + "e")
    elif prev in vowels and prev2 in vowels:
        # "lief" → "lieve", "dood" handled above, "mooi" handled as vowel end.
        forms.append(adj[:-1] + {"f": "v", "s": "z"}.get(last, last) + "e")
    elif prev in vowels and last not in "wjx":
        # A short vowel keeps its sound by doubling the consonant ("dom" → "domme").
        forms.append(adj + last + "e")
        forms.append(adj + "e")
    else:
        forms.append(adj + "e")
    return forms


def convert_pattern_nl(weight):
    """pattern's Dutch adjectives: one <word> per sense; the senses of a form are averaged,
    as pattern itself does."""
    own = project_phrases(HERE / "nl")
    tree = ET.parse(SOURCES / "pattern-nl" / "nl-sentiment.xml")
    senses = {}
    for w in tree.getroot().iter("word"):
        form = (w.get("form") or "").strip().lower()
        try:
            pol = float(w.get("polarity", "0"))
        except ValueError:
            continue
        if form:
            senses.setdefault(form, []).append(pol)
    out = {}
    for form, pols in senses.items():
        if not WORD.match(form):
            continue
        mean = sum(pols) / len(pols)
        if abs(mean * 3) < MIN_SCORE:
            continue
        s = round(clamp(mean * 3 * weight), 2)
        for f in [form] + dutch_inflections(form):
            if f not in own and f not in senses and f not in out:
                out[f] = s
            elif f == form and f not in own:
                out[f] = s
    return out


def convert_afinn_da(weight):
    own = project_phrases(HERE / "da")
    out = {}
    text = (SOURCES / "afinn-da" / "AFINN-da-32.txt").read_text(encoding="utf-8")
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        cols = raw.rsplit("\t", 1)
        if len(cols) != 2:
            sys.exit(f"sources/afinn-da/AFINN-da-32.txt:{n}: expected phrase<TAB>score")
        word = cols[0].strip().lower()
        if not WORD.match(word) or word in own:
            continue
        v = float(cols[1]) * 0.6
        if abs(v) >= MIN_SCORE:
            out[word] = round(clamp(v * weight), 2)
    return out


def main():
    global MIN_SCORE
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=HERE, help="lexicon folder to write into")
    p.add_argument("--min", type=float, default=MIN_SCORE, help=f"smallest score kept (default {MIN_SCORE})")
    for k, v in WEIGHTS.items():
        p.add_argument(f"--{k}", type=float, default=v, help=f"weight (default {v})")
    a = p.parse_args()
    MIN_SCORE = a.min
    # (file written, source file, credit line, how a score is made, converter, weight)
    outputs = [
        ("en/published.txt", "vader/vader_lexicon.txt",
         "VADER (C.J. Hutto, MIT licence: sources/vader/LICENSE.txt).",
         "VADER valence × 0.75 × {}.", convert_vader, a.en),
        ("common/emoji-published.txt", "vader/emoji_utf8_lexicon.txt",
         "VADER's emoji names (MIT licence: sources/vader/LICENSE.txt), scored by VADER's words.",
         "sum of the name's VADER valences × 0.75 × {}.", convert_vader_emoji, a.emoji),
        ("nl/published.txt", "pattern-nl/nl-sentiment.xml",
         "pattern's Dutch adjective lexicon (T. De Smedt, W. Daelemans; PDDL).",
         "mean polarity of the senses × 3 × {}; attributive forms added.", convert_pattern_nl, a.nl),
        ("da/published.txt", "afinn-da/AFINN-da-32.txt",
         "AFINN-da (Finn Årup Nielsen, Apache License 2.0: sources/afinn-da/LICENSE).",
         "AFINN score × 0.6 × {}.", convert_afinn_da, a.da),
    ]
    for out, source, credit, scoring, convert, weight in outputs:
        path = a.out / out
        path.parent.mkdir(parents=True, exist_ok=True)
        header = [
            f"Generated by config/lexicons/convert.py from sources/{source}; do not edit, re-run the script.",
            credit,
            "Scores: " + scoring.format(weight),
        ]
        write(path, header, convert(weight))


if __name__ == "__main__":
    main()
