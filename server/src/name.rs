//! Display names: what a participant is shown as in the room, on the stage label burnt
//! into recordings, and on the review page's timeline. A name comes from a client (open
//! mode) or from a token's issuer, so it is checked as untrusted text: it must be seen
//! as it is. Invisible characters, text-direction overrides and stacked accents could
//! otherwise make "Ada" and "Ada\u{200B}" two people who look the same, flip the label's
//! text, or smear it over its neighbours.
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

pub const MAX_NAME_CHARS: usize = 40;
/// Marks on one letter: Vietnamese, pointed Hebrew and Burmese syllables need up to 5
/// (vowel signs are marks too); a "Zalgo" smear stacks dozens.
const MAX_MARKS: usize = 6;
/// A subdivision flag (🏴 and 2 to 6 tag letters or digits and a cancel tag, like
/// England's "gbeng"): the one use of tag characters a name keeps.
const FLAG_TAGS: std::ops::RangeInclusive<usize> = 2..=6;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name is 1 to {MAX_NAME_CHARS} characters (this one has {0})")]
    Length(usize),
    #[error("a name cannot contain control characters")]
    Control,
    #[error("a name cannot contain invisible or text-direction characters (it has U+{0:04X})")]
    Invisible(u32),
    #[error("a name cannot contain private-use characters or non-characters (it has U+{0:04X})")]
    NoPicture(u32),
    #[error("a name cannot stack more than {MAX_MARKS} accents on one letter")]
    TooManyMarks,
    #[error("a name cannot start with an accent or a joiner, nor end with a joiner")]
    LooseMark,
}

/// The name as it will be shown: trimmed, each run of spaces made one space, in NFC
/// (the composed form, so "é" is one character however it was typed), or why not.
pub fn validate_name(raw: &str) -> Result<String, NameError> {
    // Tabs and line breaks too: a name is typed on one line.
    if raw.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    let spaced = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let name: String = spaced.nfc().collect();
    let chars: Vec<char> = name.chars().collect();
    if chars.is_empty() || chars.len() > MAX_NAME_CHARS {
        return Err(NameError::Length(chars.len()));
    }
    let first = chars[0];
    let last = chars[chars.len() - 1];
    if is_combining_mark(first) || is_joiner_or_selector(first) || is_joiner_or_selector(last) && !is_variation_selector(last) {
        return Err(NameError::LooseMark);
    }
    // The first character is now a letter, digit or symbol (not a space, mark or
    // joiner): the name shows something.
    let mut marks = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == BLACK_FLAG {
            if let Some(len) = flag_tags(&chars[i + 1..]) {
                marks = 0;
                i += 1 + len;
                continue;
            }
        }
        if is_invisible(c) {
            return Err(NameError::Invisible(c as u32));
        }
        if is_without_picture(c) {
            return Err(NameError::NoPicture(c as u32));
        }
        // A joiner or selector between marks does not start a new letter.
        if is_combining_mark(c) {
            marks += 1;
        } else if !is_joiner_or_selector(c) {
            marks = 0;
        }
        if marks > MAX_MARKS {
            return Err(NameError::TooManyMarks);
        }
        i += 1;
    }
    Ok(name)
}

/// Who gave a participant their name, which decides how like another's it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// Typed by the participant (open mode): refused if it looks like a name in the
    /// room ([`NameKey::looks_like`]).
    Chosen,
    /// A token's, from an issuer trusted to tell people apart: refused only when it is
    /// a name in the room but for case, width and joiners ([`NameKey::same_name`]). The
    /// look-alike rule would lock a real "Torn" out beside a "Tom", with no name of
    /// their own to choose instead.
    Issued,
}

/// What two names are compared by. NFKC folds compatibility forms ("Ａｄａ" is "Ada",
/// "ﬁ" is "fi"); the joiners and selectors a name may legitimately hold (an emoji
/// sequence, a Persian word) are dropped, as they change nothing a reader can tell
/// apart; case is ignored (a final sigma is a sigma). For names people choose, Unicode's
/// confusables skeleton (UTS #39) also maps letters that look alike to one: Cyrillic
/// "а" to Latin "a", "0" to "O", "rn" and "m" alike, so that nobody joins beside "Ada"
/// as "Аda" and is taken for her. The skeleton does not ignore case ("I" looks like
/// "l", "i" does not), so the key holds it twice: of the lowercased name, lowercased
/// once more ("0" became "O": "B0b" is "bob"), and of the name as written, kept as the
/// skeleton gives it ("Ill" is "lll", like "1ll"; lowercasing it would make "Ian"
/// "lan", like "Lan").
#[derive(Debug, Clone)]
pub struct NameKey {
    folded: String,
    lowercase_first: String,
    as_written: String,
}

impl NameKey {
    pub fn of(name: &str) -> Self {
        let written: String = name.nfkc().filter(|c| !is_joiner_or_selector(*c)).collect();
        let folded: String = written.to_lowercase().chars().map(|c| if c == 'ς' { 'σ' } else { c }).collect();
        let lowercase_first = unicode_security::skeleton(&folded).flat_map(char::to_lowercase).collect();
        let as_written = unicode_security::skeleton(&written).collect();
        Self { folded, lowercase_first, as_written }
    }

    /// The same name but for case, width and joiners.
    pub fn same_name(&self, other: &NameKey) -> bool {
        self.folded == other.folded
    }

    /// Whether a reader could take one name for the other.
    pub fn looks_like(&self, other: &NameKey) -> bool {
        self.same_name(other) || self.lowercase_first == other.lowercase_first || self.as_written == other.as_written
    }

    /// Whether a newcomer named this way would be taken for someone named `other`.
    pub fn clashes(&self, other: &NameKey, naming: Naming) -> bool {
        match naming {
            Naming::Chosen => self.looks_like(other),
            Naming::Issued => self.same_name(other),
        }
    }
}

const BLACK_FLAG: char = '\u{1F3F4}';

/// The length of a subdivision flag's tags after 🏴 (letters and digits, then the
/// cancel tag), if `rest` starts with one.
fn flag_tags(rest: &[char]) -> Option<usize> {
    let tags = rest.iter().take_while(|c| matches!(c, '\u{E0030}'..='\u{E0039}' | '\u{E0061}'..='\u{E007A}')).count();
    (FLAG_TAGS.contains(&tags) && rest.get(tags) == Some(&'\u{E007F}')).then_some(tags + 1)
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Zero-width joiner and non-joiner (needed by emoji sequences and the Arabic and Indic
/// scripts), variation selectors (text or emoji style) and Mongolian's own selectors and
/// vowel separator: allowed within a name, and ignored when names are compared.
fn is_joiner_or_selector(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}' | '\u{180B}'..='\u{180F}') || is_variation_selector(c)
}

/// Unicode's default-ignorable characters (which a renderer draws as nothing) other
/// than the joiners and selectors above, and the letters that draw as blank space:
/// they hide text, reverse it, or look like nothing at all.
fn is_invisible(c: char) -> bool {
    !is_joiner_or_selector(c)
        && matches!(c,
            '\u{00AD}' // soft hyphen
            | '\u{034F}' // combining grapheme joiner
            | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}' | '\u{0890}'..='\u{0891}' | '\u{08E2}'
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
            | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
            | '\u{200B}'..='\u{200F}' // zero-width space, direction marks
            | '\u{202A}'..='\u{202E}' // embeddings and overrides
            | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, isolates, deprecated format
            | '\u{2800}' // blank braille pattern
            | '\u{FEFF}' // byte order mark
            | '\u{FFF0}'..='\u{FFFB}' // unassigned ignorables, interlinear annotation
            | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}' // tags (invisible copies of ASCII) and the unassigned rest of the plane's start
        )
}

/// Private-use characters (no agreed picture: each font draws its own, or nothing) and
/// non-characters.
fn is_without_picture(c: char) -> bool {
    let n = c as u32;
    matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{10FFFF}' | '\u{FDD0}'..='\u{FDEF}') || n & 0xFFFE == 0xFFFE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass_as_typed() {
        assert_eq!(validate_name("  Ada   Lovelace ").unwrap(), "Ada Lovelace");
        assert_eq!(validate_name(&"é".repeat(40)).unwrap().chars().count(), 40);
        let england = "Harry \u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}";
        for name in ["José", "Nguyễn Thị Minh Khai", "محمد", "שָׁלוֹם", "李小龙", "Zoë 👩‍💻", "می‌خواهم", "O'Brien-Smith", "❤️ Mia", "မွှေး", "Οδυσσεύς", "ᠮᠣᠩᠭᠣᠯ", england, "𠮷野"] {
            // Unchanged but for NFC's canonical order of a letter's marks.
            assert_eq!(validate_name(name), Ok(name.nfc().collect::<String>()), "{name}");
        }
    }

    #[test]
    fn a_name_is_kept_in_its_composed_form() {
        // "e" + combining acute is the same name as "é", and is one character of 40.
        assert_eq!(validate_name("Jose\u{301}").unwrap(), "José");
        assert_eq!(validate_name(&"e\u{301}".repeat(40)).unwrap().chars().count(), 40);
    }

    #[test]
    fn lengths_and_controls_are_refused() {
        assert_eq!(validate_name(""), Err(NameError::Length(0)));
        assert_eq!(validate_name(" \u{3000}\u{A0} "), Err(NameError::Length(0)));
        assert_eq!(validate_name("tab\tname"), Err(NameError::Control));
        assert_eq!(validate_name(&"a".repeat(41)), Err(NameError::Length(41)));
        assert_eq!(validate_name("bad\u{0}name"), Err(NameError::Control));
        assert_eq!(validate_name("bad\u{9B}name"), Err(NameError::Control));
        // Other spaces (no-break, ideographic, line separator) become one plain space.
        assert_eq!(validate_name("Ada\u{A0}\u{3000}\u{2028}Byron").unwrap(), "Ada Byron");
    }

    #[test]
    fn invisible_and_direction_characters_are_refused() {
        for (name, code) in [
            ("Ada\u{200B}", 0x200B),
            ("\u{202E}nimda", 0x202E),
            ("\u{FEFF}Ada", 0xFEFF),
            ("Ad\u{00AD}a", 0xAD),
            ("\u{2066}Ada\u{2069}", 0x2066),
            ("Ada\u{E0041}\u{E0042}", 0xE0041),
            ("Ada\u{2065}", 0x2065),
            ("Ada\u{FFF0}", 0xFFF0),
            ("Ada\u{E0080}", 0xE0080),
            // Tags that spell a message behind a flag, or hang loose, are hidden text.
            ("\u{1F3F4}\u{E0068}\u{E0069}\u{E0020}\u{E0079}\u{E006F}\u{E0075}\u{E007F}", 0xE0068),
            ("\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}", 0xE0067),
            ("\u{3164}", 0x3164),
            ("A\u{2800}", 0x2800),
        ] {
            assert_eq!(validate_name(name), Err(NameError::Invisible(code)), "{name:?}");
        }
        assert_eq!(validate_name("\u{E000}boss"), Err(NameError::NoPicture(0xE000)));
        assert_eq!(validate_name("x\u{FFFF}"), Err(NameError::NoPicture(0xFFFF)));
    }

    #[test]
    fn stacked_accents_are_refused_beyond_six() {
        assert!(validate_name(&format!("a{}", "\u{301}\u{302}\u{303}\u{304}\u{305}\u{306}")).is_ok());
        assert_eq!(validate_name(&format!("Z{}", "\u{300}\u{301}\u{302}\u{303}\u{304}\u{305}\u{306}")), Err(NameError::TooManyMarks));
        assert_eq!(validate_name(&format!("Z{}", "\u{336}".repeat(39))), Err(NameError::TooManyMarks));
        // Joiners between them do not start a new letter.
        assert_eq!(validate_name(&format!("Z{}a", "\u{336}\u{336}\u{336}\u{336}\u{200D}".repeat(7))), Err(NameError::TooManyMarks));
    }

    #[test]
    fn a_name_does_not_start_with_an_accent_or_a_joiner_nor_end_with_a_joiner() {
        for name in ["\u{301}Ada", "\u{200D}Ada", "Ada\u{200D}", "Ada\u{200C}"] {
            assert_eq!(validate_name(name), Err(NameError::LooseMark), "{name:?}");
        }
        assert!(validate_name("Ada \u{2764}\u{FE0F}").is_ok());
    }

    #[test]
    fn a_name_of_only_joiners_or_marks_is_refused() {
        assert_eq!(validate_name("\u{FE0F}"), Err(NameError::LooseMark));
        assert_eq!(validate_name("\u{301}\u{FE0E}"), Err(NameError::LooseMark));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 5000, failure_persistence: None, ..Default::default() })]

        /// Any text is answered without a panic, and a name that passed passes again
        /// unchanged (tokens carry validated names, and rooms check them once more).
        #[test]
        fn any_text_is_answered_and_a_valid_name_stays_valid(text in "\\PC{0,60}|.{0,60}") {
            if let Ok(name) = validate_name(&text) {
                proptest::prop_assert_eq!(validate_name(&name), Ok(name.clone()));
                let key = NameKey::of(&name);
                proptest::prop_assert!(!key.folded.is_empty() && !key.lowercase_first.is_empty() && !key.as_written.is_empty());
            }
        }
    }

    #[test]
    fn names_that_look_alike_share_a_key() {
        let same = |a: &str, b: &str| NameKey::of(&validate_name(a).unwrap()).looks_like(&NameKey::of(&validate_name(b).unwrap()));
        for (a, b) in [
            ("Ada", "ada"),
            ("Ada", "Ａｄａ"),
            ("José", "Jose\u{301}"),
            ("Mia ❤", "Mia ❤\u{FE0F}"),
            ("ΟΔΥΣΣΕΥΣ", "Οδυσσευς"),
            // Other scripts' look-alikes (Cyrillic А and а, Greek Α), digits and strokes.
            ("Ada", "\u{410}d\u{430}"),
            ("Ada", "\u{391}da"),
            ("ADA", "\u{410}d\u{430}"),
            ("Bob", "B0b"),
            ("Ill", "1l|"),
            ("Ill", "ill"),
            ("Tom", "Torn"),
            ("paypal", "\u{440}\u{430}\u{443}\u{440}\u{430}l"),
        ] {
            assert!(same(a, b) && same(b, a), "{a:?} and {b:?} look alike");
        }
        for (a, b) in [("José", "Jose"), ("Ada", "Ada B"), ("Ada", "Ida"), ("Анна", "Алла"), ("李", "季"), ("Eve", "Ewe"), ("Ian", "Lan"), ("Iola", "Lola"), ("ELLA", "EILA")] {
            assert!(!same(a, b), "{a:?} and {b:?} are two names");
        }
        // Issued names (a token's) clash only when they are one name.
        let key = |n: &str| NameKey::of(&validate_name(n).unwrap());
        assert!(key("ada").clashes(&key("Ａｄａ"), Naming::Issued));
        assert!(!key("Torn").clashes(&key("Tom"), Naming::Issued) && key("Torn").clashes(&key("Tom"), Naming::Chosen));
    }
}
