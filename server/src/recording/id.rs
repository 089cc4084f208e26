//! Recording ids: made by the server, never by a client, and checked on every request,
//! because they name files. `YYYYMMDD-HHMMSS-xxxxxx`: the UTC start time (so ids sort
//! by age) and six random characters of `[a-z0-9]` (so two recordings started in the
//! same second differ).
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RecordingId(String);

const LEN: usize = 22;

/// Text that is not a recording id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a recording id looks like 20261202-160808-ab12cd")]
pub struct InvalidRecordingId;

impl RecordingId {
    /// A new id for a recording starting at `now`.
    pub fn generate(now: std::time::SystemTime) -> Self {
        let t: time::OffsetDateTime = now.into();
        let format = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
        let stamp = t.format(&format).expect("UTC times format");
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let random = uuid::Uuid::new_v4();
        let suffix: String = random.as_bytes()[..6].iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
        Self(format!("{stamp}-{suffix}"))
    }

    pub fn parse(text: &str) -> Result<Self, InvalidRecordingId> {
        if Self::is_valid(text) {
            Ok(Self(text.to_string()))
        } else {
            Err(InvalidRecordingId)
        }
    }

    pub fn is_valid(text: &str) -> bool {
        let b = text.as_bytes();
        b.len() == LEN
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 15 => *c == b'-',
                0..=14 => c.is_ascii_digit(),
                _ => c.is_ascii_lowercase() || c.is_ascii_digit(),
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_sort_by_time_and_differ() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_227_688);
        let a = RecordingId::generate(t);
        assert!(a.as_str().starts_with("20261202-160808-"), "{a}");
        assert!(RecordingId::is_valid(a.as_str()));
        let b = RecordingId::generate(t);
        assert_ne!(a, b);
        let later = RecordingId::generate(t + std::time::Duration::from_secs(1));
        assert!(later > a);
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["", "../../etc/passwd", "20261202-160808-ab12c", "20261202-160808-AB12CD", "20261202_160808-ab12cd", "2026120a-160808-ab12cd", "20261202-160808-ab12cd.mp4", "20261202-160808-ab/2cd"] {
            assert!(RecordingId::parse(bad).is_err(), "{bad}");
        }
        assert!(RecordingId::parse("20261202-160808-ab12cd").is_ok());
    }
}
