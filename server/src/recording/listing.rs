//! A page of the library: the recordings a search matches, newest first, from where the
//! previous page ended. A library of thousands of hour-long recordings is tens of
//! megabytes of JSON whole (docs/benchmarks.md, "The library at scale"); its page asks
//! for 100 at a time, and searches on the server.
//!
//! The page ends at a [`Cursor`], the last recording's place in the order, not at a
//! count of rows: a recording started or deleted while someone pages would otherwise
//! show one row twice or skip one.
use super::{RecordingId, RecordingView};
use std::fmt;

/// The most recordings one page holds.
pub const MAX_PAGE: usize = 1000;
/// The longest search, in characters: longer than any room id or name Podium accepts.
pub const MAX_SEARCH_CHARS: usize = 100;

/// What a listing asks for, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub search: Option<Search>,
    /// At most this many; `None`: every match (the API before paging).
    pub limit: Option<usize>,
    /// The matches after this place only (a previous page's `next`).
    pub after: Option<Cursor>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListQueryError {
    #[error("limit is a number of recordings from 1 to {MAX_PAGE}")]
    Limit,
    #[error("the search is longer than {MAX_SEARCH_CHARS} characters")]
    SearchTooLong,
    #[error("after is not a place in the list: pass the next link's as it came")]
    Cursor,
}

impl ListQuery {
    /// From the query string's `q`, `limit` and `after`, as a client sent them.
    pub fn parse(q: Option<&str>, limit: Option<&str>, after: Option<&str>) -> Result<Self, ListQueryError> {
        let limit = match limit {
            None => None,
            // Digits only: `+5` is no number a client means to send.
            Some(text) => match text.parse::<usize>() {
                Ok(n @ 1..=MAX_PAGE) if text.bytes().all(|b| b.is_ascii_digit()) => Some(n),
                _ => return Err(ListQueryError::Limit),
            },
        };
        Ok(ListQuery { search: q.map(Search::parse).transpose()?.flatten(), limit, after: after.map(Cursor::parse).transpose()? })
    }
}

/// Text to find in a recording's room or in a participant's name, case aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// As it was asked (trimmed): what the next page's link asks again. Lowercasing can
    /// lengthen a text (`İ` is two characters lowercased), past the limit it was checked
    /// against.
    asked: String,
    lowercase: String,
}

impl Search {
    /// `None` for a search of nothing but spaces: everything matches.
    pub fn parse(text: &str) -> Result<Option<Self>, ListQueryError> {
        let text = text.trim();
        if text.chars().count() > MAX_SEARCH_CHARS {
            return Err(ListQueryError::SearchTooLong);
        }
        Ok((!text.is_empty()).then(|| Search { asked: text.to_string(), lowercase: text.to_lowercase() }))
    }

    pub fn as_str(&self) -> &str {
        &self.asked
    }

    pub fn matches(&self, view: &RecordingView) -> bool {
        let found = |text: &str| text.to_lowercase().contains(&self.lowercase);
        found(&view.room) || view.participants.iter().any(|p| found(&p.name))
    }
}

/// A place in the library's order (newest first: by start time, then by id): the last
/// recording of a page. Written `START~ID`; clients pass it back as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    started_at: String,
    id: RecordingId,
}

impl Cursor {
    pub fn at(view: &RecordingView) -> Self {
        Cursor { started_at: view.started_at.clone(), id: view.id.clone() }
    }

    pub fn parse(text: &str) -> Result<Self, ListQueryError> {
        let (started_at, id) = text.rsplit_once('~').ok_or(ListQueryError::Cursor)?;
        // A start time as the sidecars write it (RFC 3339); only compared, never parsed
        // further, and kept short.
        let time_like = !started_at.is_empty() && started_at.len() <= 40 && started_at.bytes().all(|b| b.is_ascii_alphanumeric() || b"-:.+".contains(&b));
        let id = RecordingId::parse(id).map_err(|_| ListQueryError::Cursor)?;
        if !time_like {
            return Err(ListQueryError::Cursor);
        }
        Ok(Cursor { started_at: started_at.to_string(), id })
    }

    /// Whether `view` comes at or before this place in the order.
    fn is_reached_by(&self, view: &RecordingView) -> bool {
        (view.started_at.as_str(), &view.id) >= (self.started_at.as_str(), &self.id)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}~{}", self.started_at, self.id)
    }
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct Page {
    pub recordings: Vec<RecordingView>,
    /// How many recordings the search matches, on every page together.
    pub matched: usize,
    /// How many the caller's library holds, searched or not.
    pub library: usize,
    /// Where the next page starts; `None` on the last.
    pub next: Option<Cursor>,
}

/// Newest first: by start time, then by id (two started in the same millisecond).
pub fn newest_first(a: &RecordingView, b: &RecordingView) -> std::cmp::Ordering {
    b.started_at.cmp(&a.started_at).then_with(|| b.id.cmp(&a.id))
}

impl Page {
    /// The page `query` asks for out of `library` (the recordings the caller may list,
    /// in any order): only its own recordings are copied.
    pub fn of<'a>(library: impl IntoIterator<Item = &'a RecordingView>, query: &ListQuery) -> Page {
        let mut total = 0;
        let mut matches: Vec<&RecordingView> = library
            .into_iter()
            .inspect(|_| total += 1)
            .filter(|v| query.search.as_ref().is_none_or(|s| s.matches(v)))
            .collect();
        matches.sort_by(|a, b| newest_first(a, b));
        let start = query.after.as_ref().map_or(0, |c| matches.partition_point(|v| c.is_reached_by(v)));
        let end = query.limit.map_or(matches.len(), |n| start.saturating_add(n).min(matches.len()));
        let next = (end < matches.len()).then(|| Cursor::at(matches[end - 1]));
        Page { recordings: matches[start..end].iter().map(|v| (*v).clone()).collect(), matched: matches.len(), library: total, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::store::tests::sidecar;
    use compositor::output::sidecar::{Participant, Status};

    fn view(n: u32, room: &str, name: &str) -> RecordingView {
        let id = format!("20261201-0000{:02}-abc{:03}", n % 60, n);
        let mut s = sidecar(&id, Status::Finished, &format!("2026-12-01T00:{:02}:{:02}.000Z", n / 60, n % 60));
        s.room = room.into();
        s.participants = vec![Participant { participant_id: "p1".into(), name: name.into() }];
        crate::recording::Store::new(std::env::temp_dir()).view_of(&RecordingId::parse(&id).unwrap(), s)
    }

    fn ids(page: &Page) -> Vec<String> {
        page.recordings.iter().map(|v| v.id.to_string()).collect()
    }

    #[test]
    fn pages_walk_the_whole_library_newest_first_each_recording_once() {
        let library: Vec<_> = (0..25).map(|n| view(n, "r", "Ada")).collect();
        let mut seen = Vec::new();
        let mut query = ListQuery { limit: Some(10), ..Default::default() };
        let mut pages = 0;
        loop {
            let page = Page::of(&library, &query);
            assert_eq!((page.matched, page.library), (25, 25));
            seen.extend(ids(&page));
            pages += 1;
            match page.next {
                Some(next) => query.after = Some(Cursor::parse(&next.to_string()).unwrap()),
                None => break,
            }
        }
        let mut expected: Vec<_> = library.iter().map(|v| v.id.to_string()).collect();
        expected.reverse();
        assert_eq!(seen, expected);
        assert_eq!(pages, 3);
    }

    #[test]
    fn a_recording_started_or_deleted_between_pages_neither_repeats_nor_skips_a_row() {
        let mut library: Vec<_> = (0..20).map(|n| view(n, "r", "Ada")).collect();
        let first = Page::of(&library, &ListQuery { limit: Some(10), ..Default::default() });
        // A new one at the top, and the first page's last row deleted.
        library.push(view(40, "r", "Ada"));
        library.retain(|v| v.id != first.recordings[9].id);
        let second = Page::of(&library, &ListQuery { limit: Some(10), after: first.next.clone(), ..Default::default() });
        let expected: Vec<String> = (0..10).rev().map(|n| view(n, "r", "Ada").id.to_string()).collect();
        assert_eq!(ids(&second), expected);
        assert!(second.next.is_none(), "the last page says so");
    }

    #[test]
    fn a_search_finds_the_room_or_a_participant_case_aside_and_counts_both() {
        let library = vec![view(1, "standup", "Ada"), view(2, "Design-Review", "Grace"), view(3, "retro", "Ada Lovelace")];
        let find = |q: &str| {
            let page = Page::of(&library, &ListQuery::parse(Some(q), None, None).unwrap());
            (ids(&page), page.matched, page.library)
        };
        assert_eq!(find("ADA"), (vec![library[2].id.to_string(), library[0].id.to_string()], 2, 3));
        assert_eq!(find("design"), (vec![library[1].id.to_string()], 1, 3));
        assert_eq!(find("  "), (ids(&Page::of(&library, &ListQuery::default())), 3, 3), "spaces search nothing");
        assert_eq!(find("nobody"), (vec![], 0, 3));
    }

    #[test]
    fn what_a_client_sends_is_checked_before_it_is_used() {
        assert_eq!(ListQuery::parse(None, Some("0"), None), Err(ListQueryError::Limit));
        assert_eq!(ListQuery::parse(None, Some("1001"), None), Err(ListQueryError::Limit));
        assert_eq!(ListQuery::parse(None, Some("-1"), None), Err(ListQueryError::Limit));
        assert_eq!(ListQuery::parse(None, Some("ten"), None), Err(ListQueryError::Limit));
        assert_eq!(ListQuery::parse(None, Some("+5"), None), Err(ListQueryError::Limit));
        assert_eq!(ListQuery::parse(None, Some(" 5"), None), Err(ListQueryError::Limit));
        assert_eq!(ListQuery::parse(None, Some("1000"), None).unwrap().limit, Some(1000));
        assert_eq!(ListQuery::parse(Some(&"x".repeat(101)), None, None), Err(ListQueryError::SearchTooLong));
        assert!(ListQuery::parse(Some(&"é".repeat(100)), None, None).is_ok(), "characters, not bytes");
        // Asked again as it was asked: `İ` lowercased is two characters, and 60 of them
        // would not pass the limit lowercased.
        let dotted = ListQuery::parse(Some(&format!(" {} ", "İ".repeat(60))), None, None).unwrap().search.unwrap();
        assert_eq!(Search::parse(dotted.as_str()).unwrap(), Some(dotted.clone()));
        for bad in ["", "~", "2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z~../../etc", "~20261201-000000-abc001", "a b~20261201-000000-abc001", &format!("{}~20261201-000000-abc001", "1".repeat(41))] {
            assert_eq!(Cursor::parse(bad), Err(ListQueryError::Cursor), "{bad:?}");
        }
        let c = Cursor::parse("2026-12-01T00:00:01.000+01:00~20261201-000001-abc001").unwrap();
        assert_eq!(c.to_string(), "2026-12-01T00:00:01.000+01:00~20261201-000001-abc001");
    }

    #[test]
    fn a_cursor_past_the_end_is_an_empty_last_page() {
        let library: Vec<_> = (0..3).map(|n| view(n, "r", "Ada")).collect();
        let after = Cursor::parse("0000-00-00T00:00:00Z~20261201-000000-aaa000").unwrap();
        let page = Page::of(&library, &ListQuery { limit: Some(10), after: Some(after), ..Default::default() });
        assert!(page.recordings.is_empty() && page.next.is_none());
        assert_eq!(page.matched, 3);
    }
}
