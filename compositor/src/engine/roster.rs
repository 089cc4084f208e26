//! Who has been in the recorded meeting: each session's name (for labels and the
//! speaker timeline) and join order (for the tiles), and the people the sidecar lists.
//!
//! A session is one connection: someone whose connection drops and comes back is a new
//! session under the same name. The sidecar lists people, not sessions: each name once,
//! and at most [`MAX_LISTED`] of them, because it is rewritten whole every second and
//! read by the review page; a client that rejoined in a loop must not make it grow without
//! end.
use crate::output::sidecar::Participant;
use std::collections::HashMap;

/// The most people a sidecar lists: far above a meeting's size (rooms hold 16 by
/// default, `--max-participants`), and the sidecar stays small however people come
/// and go.
pub const MAX_LISTED: usize = 1000;

#[derive(Debug, Default)]
pub struct Roster {
    /// Session id → (its name, when it joined: a count).
    sessions: HashMap<String, (String, u64)>,
    joined: u64,
    /// Listed when the list was full: counted, not kept.
    unlisted: u64,
}

impl Roster {
    /// Notes the session `id` named `name`; a new session joins after every earlier one.
    /// Returns the person to add to the sidecar's list: a name it does not hold yet,
    /// while `listed` has room.
    pub fn see(&mut self, id: &str, name: &str, listed: &[Participant]) -> Option<Participant> {
        if let Some((known, _)) = self.sessions.get_mut(id) {
            // The server names a session once; should it rename, labels follow.
            if known != name {
                *known = name.to_string();
            }
            return None;
        }
        self.joined += 1;
        self.sessions.insert(id.to_string(), (name.to_string(), self.joined));
        if listed.iter().any(|p| p.name == name) {
            return None;
        }
        if listed.len() >= MAX_LISTED {
            self.unlisted += 1;
            if self.unlisted == 1 {
                tracing::warn!(max = MAX_LISTED, "the recording's sidecar lists {MAX_LISTED} people already: later names are not listed");
            }
            return None;
        }
        Some(Participant { participant_id: id.to_string(), name: name.to_string() })
    }

    pub fn name(&self, id: &str) -> Option<&str> {
        self.sessions.get(id).map(|(name, _)| name.as_str())
    }

    /// Where `id` stands in join order (unknown sessions last).
    pub fn order(&self, id: &str) -> u64 {
        self.sessions.get(id).map_or(u64::MAX, |&(_, order)| order)
    }

    /// `ids` once each, in join order.
    pub fn in_join_order<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        let mut ids: Vec<&String> = ids.into_iter().collect();
        ids.sort_by_key(|id| self.order(id));
        ids.dedup();
        ids.into_iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_each_name_once_and_sessions_keep_their_join_order() {
        let (mut roster, mut listed) = (Roster::default(), Vec::new());
        for (id, name) in [("a1", "Ada"), ("b1", "Bob"), ("a2", "Ada"), ("a1", "Ada"), ("c1", "Cy")] {
            listed.extend(roster.see(id, name, &listed));
        }
        let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Ada", "Bob", "Cy"]);
        assert_eq!(listed[0].participant_id, "a1", "a person is listed by their first session");
        // Ada's second session has its own name and place: she rejoined after Bob.
        assert_eq!(roster.name("a2"), Some("Ada"));
        let present = ["c1", "a2", "b1", "a2"].map(String::from);
        assert_eq!(roster.in_join_order(&present), ["b1", "a2", "c1"]);
        assert_eq!(roster.name("zz"), None);
    }

    #[test]
    fn rejoining_in_a_loop_does_not_grow_the_list() {
        let (mut roster, mut listed) = (Roster::default(), Vec::new());
        for i in 0..5000 {
            listed.extend(roster.see(&format!("s{i}"), "Ada", &listed));
        }
        assert_eq!(listed.len(), 1);
        // A new name each time: the list stops at its cap, and sessions still have names.
        for i in 0..5000 {
            listed.extend(roster.see(&format!("t{i}"), &format!("Guest {i}"), &listed));
        }
        assert_eq!(listed.len(), MAX_LISTED);
        assert_eq!(roster.unlisted, 5000 - (MAX_LISTED as u64 - 1));
        assert_eq!(roster.name("t4999"), Some("Guest 4999"));
    }
}
