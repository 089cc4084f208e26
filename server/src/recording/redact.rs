//! Error text that clients read (a recording's `error`, the room's banner, a reel's
//! `highlights.error`, a 500's body) names no path on the server. The messages come
//! from many places (the compositor, FFmpeg, the file system), and some name the file
//! they failed on: `cannot write /srv/podium/recordings/ID.json: …` tells a guest where
//! the server keeps its data and who it runs as. The log keeps the whole message for the
//! operator; clients get it with each path cut to its file name (the recording's own
//! files are named by its id, which they know already).
//!
//! Paths are found two ways. The folders that say most about the machine (the
//! recordings folder, the home and working folders, the temporary folder, the program's
//! folder) are known at start, as absolute paths, and are found whole, spaces and all.
//! Any other word that starts with `/` or `~/` is taken for a path up to the next space.
use std::path::{Path, PathBuf};

/// What the recordings folder reads as before paths are cut (so its files read as
/// their names).
const RECORDINGS: &str = "/recordings";
/// What any other known folder reads as.
const ELSEWHERE: &str = "/…";

#[derive(Debug, Clone)]
pub struct Redactor {
    /// Absolute folders and what each reads as, the longest first (a folder inside
    /// another is found before it).
    folders: Vec<(String, &'static str)>,
}

impl Redactor {
    /// For a server whose recordings are in `recordings` (relative or not).
    pub fn new(recordings: &Path) -> Self {
        let exe_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf));
        let others = [std::env::var_os("HOME").map(PathBuf::from), std::env::current_dir().ok(), Some(std::env::temp_dir()), exe_dir];
        Self::with_folders(recordings, others.into_iter().flatten())
    }

    fn with_folders(recordings: &Path, others: impl IntoIterator<Item = PathBuf>) -> Self {
        let mut folders: Vec<(String, &'static str)> = Vec::new();
        let mut add = |path: &Path, shown: &'static str| {
            for form in [std::path::absolute(path).ok(), path.canonicalize().ok()].into_iter().flatten() {
                let form = form.display().to_string();
                let form = form.trim_end_matches('/');
                if form.len() > 1 && !folders.iter().any(|(f, _)| f == form) {
                    folders.push((form.to_string(), shown));
                }
            }
        };
        add(recordings, RECORDINGS);
        for other in others {
            add(&other, ELSEWHERE);
        }
        folders.sort_by_key(|(f, _)| std::cmp::Reverse(f.len()));
        Self { folders }
    }

    /// `message` with every path cut to its last part, and the recordings folder named
    /// `recordings`.
    pub fn shown(&self, message: &str) -> String {
        let mut text = message.to_string();
        for (folder, shown) in &self.folders {
            text = replace_folder(&text, folder, shown);
        }
        cut_paths(&text)
    }
}

/// `folder` (absolute) replaced wherever it is, except as the start of a longer name
/// (`/srv/rec` in `/srv/records`), which the cut below deals with as a path of its own.
fn replace_folder(text: &str, folder: &str, shown: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in text.match_indices(folder) {
        let after = &text[at + folder.len()..];
        let longer_name = after.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-')
            || (after.starts_with('.') && after[1..].starts_with(|c: char| c.is_alphanumeric()));
        if !longer_name {
            out.push_str(&text[last..at]);
            out.push_str(shown);
            last = at + folder.len();
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Each word that starts with `/` or `~/` (not inside a word: `and/or`, `km/h` stay)
/// becomes its last part: `cannot open "/etc/x/y.mp4": …` → `cannot open "y.mp4": …`.
fn cut_paths(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut previous: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        let at_boundary = previous.is_none_or(|p| !(p.is_alphanumeric() || "_-".contains(p)));
        let starts_path = at_boundary && (c == '/' || rest.starts_with("~/"));
        if !starts_path {
            out.push(c);
            previous = Some(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        // A colon or full stop that ends the word is the sentence's, not the path's.
        let word = rest[..path_end(rest)].trim_end_matches([':', '.']);
        let name = word.rsplit('/').find(|part| !part.is_empty() && *part != "~").unwrap_or("");
        out.push_str(if name.is_empty() { "/" } else { name });
        previous = word.chars().last();
        rest = &rest[word.len()..];
    }
    out
}

/// Where a path at the start of `text` ends: at the end of its word, or, for a folder
/// whose name has spaces (`/srv/My Data/x.mp4`), at the end of a word within the next
/// three that goes on with a `/` (`Data/x.mp4`). Text of that shape right after a
/// path (`/a/b or c/d`) is cut with it: a message loses a few words rather than show
/// a folder's name.
fn path_end(text: &str) -> usize {
    const ENDS_A_WORD: &str = "\"'`)]}>,;";
    let word_end = |s: &str| s.find(|ch: char| ch.is_whitespace() || ENDS_A_WORD.contains(ch)).unwrap_or(s.len());
    let mut end = word_end(text);
    'path: loop {
        // Only a path of two parts or more, not ended by the sentence, goes on.
        let path = &text[..end];
        if !path[1..].contains('/') || path.ends_with([':', '.', '/']) {
            return end;
        }
        let mut at = end;
        for _ in 0..3 {
            let Some(next) = text[at..].strip_prefix(' ') else { return end };
            let word = &next[..word_end(next)];
            // A word of a name: letters and digits; one with a `/` after its first
            // letter goes on with the path.
            if !word.starts_with(char::is_alphanumeric) {
                return end;
            }
            at += 1 + word.len();
            if word.contains('/') {
                end = at;
                continue 'path;
            }
            if !word.chars().all(|c| c.is_alphanumeric() || "_-".contains(c)) {
                return end;
            }
        }
        return end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(recordings: &str, others: &[&str]) -> Redactor {
        Redactor::with_folders(Path::new(recordings), others.iter().map(PathBuf::from))
    }

    #[test]
    fn the_recordings_folder_and_other_paths_are_left_out() {
        let r = redactor("/srv/My Recordings", &["/home/Jane Doe", "/tmp"]);
        let cases = [
            ("cannot write /srv/My Recordings/20261206-101010-abc123.json: No space left on device (os error 28)", "cannot write 20261206-101010-abc123.json: No space left on device (os error 28)"),
            ("cannot open \"/srv/My Recordings\": Permission denied", "cannot open \"recordings\": Permission denied"),
            ("cannot read /home/Jane Doe/.cache/x/y.mp4.", "cannot read y.mp4."),
            ("see /home/Jane Doe", "see …"),
            ("ffmpeg said: Invalid data (path=/tmp/a/b.mp4)", "ffmpeg said: Invalid data (path=b.mp4)"),
            ("'/var/lib/podium/' is not writable", "'podium' is not writable"),
            ("cannot open ~/secret/x.log", "cannot open x.log"),
            ("the disk is full: the recording stopped, and the file up to now plays (free some space for the next one)", "the disk is full: the recording stopped, and the file up to now plays (free some space for the next one)"),
            ("1/2 of 3 and/or 4 / 5 km/h", "1/2 of 3 and/or 4 / 5 km/h"),
            ("", ""),
            ("é /ü/ö: ✓", "é ö: ✓"),
            ("file:/a/b.mp4 and ./c/d", "file:b.mp4 and .d"),
            // A folder of a name with spaces, outside the known ones.
            ("cannot write /mnt/My Data/rec/x.mp4: denied", "cannot write x.mp4: denied"),
            ("cannot write /mnt/My Big Old Data/x.mp4 (denied)", "cannot write x.mp4 (denied)"),
            ("/mnt/Team A/x.mp4. Then /mnt/b and more", "x.mp4. Then b and more"),
            // Not a folder going on: the sentence ended, or the path has one part.
            ("cannot open /mnt/a: see b/c", "cannot open a: see b/c"),
            ("cannot open /mnt/a, see b/c", "cannot open a, see b/c"),
            ("/mnt 1/2 of it", "mnt 1/2 of it"),
            ("/mnt/a is one of four or so b/c", "a is one of four or so b/c"),
            // A folder's name at the start of another name is not the folder.
            ("/tmpfs/y and /tmp/z and /tmp.old/w and /tmp.", "y and z and w and …."),
        ];
        for (message, shown) in cases {
            assert_eq!(r.shown(message), shown, "{message}");
        }
    }

    #[test]
    fn a_relative_recordings_folder_is_found_whole_and_not_inside_words() {
        let cwd = std::env::current_dir().unwrap();
        let r = redactor("data", &[]);
        let abs = cwd.join("data").display().to_string();
        assert_eq!(r.shown("Invalid data found when processing input"), "Invalid data found when processing input");
        assert_eq!(r.shown(&format!("cannot write {abs}/ID.mp4: denied")), "cannot write ID.mp4: denied");
        let r = redactor("out", &[]);
        assert_eq!(r.shown("timeout"), "timeout");
    }

    #[test]
    fn no_message_keeps_a_path_or_panics() {
        let r = redactor("/srv/rec", &["/home/Jane Doe"]);
        // Arbitrary text around arbitrary paths: nothing that looks like one survives.
        let pieces = ["/", "/a/b", " x ", " ", ":", "\"", " é ", "/srv/rec", "(", "=", ".", "//", "/srv/rec/", "\u{202e}", "file:", "/home/Jane Doe/", "~/", "~"];
        let mut seed = 7u64;
        for _ in 0..5000 {
            let mut message = String::new();
            for _ in 0..8 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                message.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            let shown = r.shown(&message);
            assert!(!shown.contains("/srv/rec") && !shown.contains("/a/b") && !shown.contains("Jane Doe"), "{message:?} → {shown:?}");
        }
    }
}
