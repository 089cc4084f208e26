//! Error text that clients read (a recording's `error`, the room's banner, a reel's
//! `highlights.error`, a 500's body) names no path on the server. The messages come
//! from many places (the compositor, FFmpeg, the file system), and some name the file
//! they failed on: `cannot write /srv/podium/recordings/ID.json: …` tells a guest where
//! the server keeps its data and who it runs as. The log keeps the whole message for the
//! operator; clients get it with each path cut to its file name (the recording's own
//! files are named by its id, which they know already).
use std::path::Path;

/// `message` with the recordings directory `dir` left out, and any other absolute path
/// cut to its last part.
pub fn without_paths(message: &str, dir: &Path) -> String {
    let mut text = message.to_string();
    // The directory first, whole (it may hold spaces, which end a path below): its
    // files then read as `/recordings/NAME`, cut to `NAME` below.
    for dir in [Some(dir.to_path_buf()), dir.canonicalize().ok()].into_iter().flatten() {
        let dir = dir.display().to_string();
        let dir = dir.trim_end_matches('/');
        if dir.len() > 1 {
            text = text.replace(dir, "/recordings");
        }
    }
    cut_absolute_paths(&text)
}

/// Each word that starts with `/` (not inside a word: `and/or`, `km/h` stay) becomes its
/// last part: `cannot open "/etc/x/y.mp4": …` → `cannot open "y.mp4": …`.
fn cut_absolute_paths(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut previous: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        let starts_path = c == '/' && previous.is_none_or(|p| !(p.is_alphanumeric() || "_-~".contains(p)));
        if !starts_path {
            out.push(c);
            previous = Some(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let end = rest.find(|ch: char| ch.is_whitespace() || "\"'`)]}>,;".contains(ch)).unwrap_or(rest.len());
        // A colon or full stop that ends the word is the sentence's, not the path's.
        let word = rest[..end].trim_end_matches([':', '.']);
        let name = word.rsplit('/').find(|part| !part.is_empty()).unwrap_or("");
        out.push_str(if name.is_empty() { "/" } else { name });
        previous = word.chars().last();
        rest = &rest[word.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recordings_folder_and_other_paths_are_left_out() {
        let dir = Path::new("/srv/My Recordings");
        let cases = [
            ("cannot write /srv/My Recordings/20261206-101010-abc123.json: No space left on device (os error 28)", "cannot write 20261206-101010-abc123.json: No space left on device (os error 28)"),
            ("cannot open \"/srv/My Recordings\": Permission denied", "cannot open \"recordings\": Permission denied"),
            ("cannot read /home/podium/.cache/x/y.mp4.", "cannot read y.mp4."),
            ("ffmpeg said: Invalid data (path=/tmp/a/b.mp4)", "ffmpeg said: Invalid data (path=b.mp4)"),
            ("'/var/lib/podium/' is not writable", "'podium' is not writable"),
            ("the disk is full: the recording stopped, and the file up to now plays (free some space for the next one)", "the disk is full: the recording stopped, and the file up to now plays (free some space for the next one)"),
            ("1/2 of 3 and/or 4 / 5 km/h", "1/2 of 3 and/or 4 / 5 km/h"),
            ("", ""),
            ("é /ü/ö: ✓", "é ö: ✓"),
            ("file:/a/b.mp4 and ./c/d", "file:b.mp4 and .d"),
        ];
        for (message, shown) in cases {
            assert_eq!(without_paths(message, dir), shown, "{message}");
        }
    }

    #[test]
    fn no_message_keeps_a_path_or_panics() {
        let dir = Path::new("/srv/rec");
        // Arbitrary text around arbitrary paths: nothing that looks like one survives.
        let pieces = ["/", "/a/b", " x ", " ", ":", "\"", " é ", "/srv/rec", "(", "=", ".", "//", "/srv/rec/", "\u{202e}", "file:"];
        let mut seed = 7u64;
        for _ in 0..5000 {
            let mut message = String::new();
            for _ in 0..8 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                message.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            let shown = without_paths(&message, dir);
            assert!(!shown.contains("/srv/rec") && !shown.contains("/a/b"), "{message:?} → {shown:?}");
        }
    }
}
