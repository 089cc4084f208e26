//! Chapters in a fragmented mp4 that is still being written.
//!
//! FFmpeg's mov muxer writes chapters only into the initial `moov`, at header time,
//! when a live recording does not know its turns yet (docs/architecture.md). So the
//! writer reserves room instead: a metadata tag of a fixed size, which the muxer puts in
//! `moov/udta`. Right after the header, and again on every new turn, [`ChapterBox`]
//! rewrites that `udta` in place with a Nero `chpl` box (the chapter list ffprobe,
//! FFmpeg and most players read), padded to the same size by a `free` box. That is a
//! seek and a small write near the start of the file, never a second pass; the muxer
//! only appends after the `moov`, so the two never touch the same bytes.
//!
//! Because the box is kept current, a recording cut off by a kill still lists every
//! turn that had started.
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The metadata key whose value reserves the room (it never reaches a finished file:
/// the first patch replaces it).
pub(crate) const RESERVE_KEY: &str = "comment";
/// Bytes reserved for the chapter list: at least 255 chapters (chpl's limit) of
/// 40-character ASCII names, or fewer with long UTF-8 names.
pub(crate) const RESERVED_BYTES: usize = 16 * 1024;
/// chpl counts its chapters in one byte.
pub(crate) const MAX_CHAPTERS: usize = 255;

/// The reserving value: plain ASCII, so that its size in the file is its length.
pub(crate) fn reserve_value() -> String {
    format!("podium chapters {}", ".".repeat(RESERVED_BYTES))
}

#[derive(Debug, thiserror::Error)]
pub enum ChapterError {
    #[error("cannot read or write the recording's chapter box: {0}")]
    Io(#[from] std::io::Error),
    #[error("the file has no room reserved for chapters (no moov/udta box of the recorder)")]
    NoRoom,
}

/// The `udta` box reserved for chapters: where it is, and its size (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChapterBox {
    offset: u64,
    size: u64,
}

impl ChapterBox {
    /// Finds the reserved box in the file's `moov` (read from the first bytes only).
    pub fn locate(file: &mut File) -> Result<Self, ChapterError> {
        let len = file.metadata()?.len();
        let mut pos = 0u64;
        while pos + 8 <= len {
            let (size, kind, header) = box_at(file, pos, len)?;
            if &kind == b"moov" {
                let mut child = pos + header;
                while child + 8 <= pos + size {
                    let (csize, ckind, _) = box_at(file, child, pos + size)?;
                    if &ckind == b"udta" && csize as usize >= RESERVED_BYTES {
                        return Ok(Self { offset: child, size: csize });
                    }
                    child += csize;
                }
                return Err(ChapterError::NoRoom);
            }
            pos += size;
        }
        Err(ChapterError::NoRoom)
    }

    /// Rewrites the box with these chapters (start in ms, title), in order. Returns how
    /// many fit; the rest are left out (the sidecar keeps every turn).
    pub fn write(&self, file: &File, chapters: &[(u64, &str)]) -> Result<usize, ChapterError> {
        let (bytes, written) = self.encode(chapters);
        file.write_all_at(&bytes, self.offset)?;
        Ok(written)
    }

    /// The whole `udta` box: header, then `chpl`, then `free` to the reserved size.
    fn encode(&self, chapters: &[(u64, &str)]) -> (Vec<u8>, usize) {
        let size = self.size as usize;
        // udta header (8) + chpl header (8) + version/flags (4) + reserved (4) + count (1)
        // + the free box's header (8) must fit around the entries.
        let budget = size - 8 - 8 - 9 - 8;
        let mut entries = Vec::new();
        let mut written = 0;
        for (start_ms, title) in chapters.iter().take(MAX_CHAPTERS) {
            let title = truncate_utf8(title, 255);
            if entries.len() + 9 + title.len() > budget {
                break;
            }
            // chpl times are in 100 ns units.
            entries.extend_from_slice(&(start_ms * 10_000).to_be_bytes());
            entries.push(title.len() as u8);
            entries.extend_from_slice(title.as_bytes());
            written += 1;
        }
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&(size as u32).to_be_bytes());
        out.extend_from_slice(b"udta");
        let chpl_size = 8 + 9 + entries.len();
        out.extend_from_slice(&(chpl_size as u32).to_be_bytes());
        out.extend_from_slice(b"chpl");
        out.extend_from_slice(&0x0100_0000u32.to_be_bytes()); // version 1, no flags
        out.extend_from_slice(&0u32.to_be_bytes());
        out.push(written as u8);
        out.extend_from_slice(&entries);
        let free = size - out.len();
        out.extend_from_slice(&(free as u32).to_be_bytes());
        out.extend_from_slice(b"free");
        out.resize(size, 0);
        (out, written)
    }
}

/// Rewrites the chapters of a recording on disk (the server does this for a recording
/// it finds cut off, from the sidecar's timeline).
pub fn patch_file(path: &Path, chapters: &[(u64, &str)]) -> Result<usize, ChapterError> {
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
    let chapter_box = ChapterBox::locate(&mut file)?;
    let written = chapter_box.write(&file, chapters)?;
    file.flush()?;
    Ok(written)
}

/// (size, type, header length) of the box at `pos`; a size that runs past `end` is an
/// error, not a panic (the file may be cut off or not ours).
fn box_at(file: &mut File, pos: u64, end: u64) -> Result<(u64, [u8; 4], u64), ChapterError> {
    let mut head = [0u8; 16];
    file.seek(SeekFrom::Start(pos))?;
    let n = file.read(&mut head)?;
    if n < 8 {
        return Err(ChapterError::NoRoom);
    }
    let mut size = u64::from(u32::from_be_bytes(head[0..4].try_into().expect("4 bytes")));
    let kind: [u8; 4] = head[4..8].try_into().expect("4 bytes");
    let mut header = 8;
    if size == 1 && n >= 16 {
        size = u64::from_be_bytes(head[8..16].try_into().expect("8 bytes"));
        header = 16;
    } else if size == 0 {
        size = end - pos;
    }
    if size < header || pos + size > end {
        return Err(ChapterError::NoRoom);
    }
    Ok((size, kind, header))
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_box_keeps_its_size_and_drops_what_does_not_fit() {
        let b = ChapterBox { offset: 0, size: 64 };
        let (bytes, n) = b.encode(&[(0, "Ada"), (1500, "Grace")]);
        assert_eq!((bytes.len(), n), (64, 2));
        assert_eq!(&bytes[4..8], b"udta");
        assert_eq!(&bytes[12..16], b"chpl");
        assert_eq!(bytes[24], 2, "count");
        assert_eq!(u64::from_be_bytes(bytes[25 + 12..25 + 20].try_into().unwrap()), 15_000_000, "1.5 s in 100 ns");
        let free_at = 8 + u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
        assert_eq!(&bytes[free_at + 4..free_at + 8], b"free");
        assert_eq!(free_at + u32::from_be_bytes(bytes[free_at..free_at + 4].try_into().unwrap()) as usize, 64);
        // Too many for 64 bytes: as many as fit, in order.
        let many: Vec<(u64, &str)> = (0..10).map(|i| (i * 1000, "Someone")).collect();
        let (bytes, n) = b.encode(&many);
        assert_eq!(bytes.len(), 64);
        assert!(n < 10 && n > 0, "{n}");
    }

    #[test]
    fn long_titles_are_cut_on_a_character_boundary() {
        let name = "é".repeat(200); // 400 bytes
        assert_eq!(truncate_utf8(&name, 255).len(), 254);
        let b = ChapterBox { offset: 0, size: RESERVED_BYTES as u64 + 64 };
        let (_, n) = b.encode(&[(0, &name)]);
        assert_eq!(n, 1);
    }

    #[test]
    fn a_file_without_the_reserved_box_is_a_clear_error() {
        let path = std::env::temp_dir().join(format!("podium-chapters-{}.mp4", std::process::id()));
        std::fs::write(&path, b"\0\0\0\x10ftypisom\0\0\0\0\0\0\0\x08moov").unwrap();
        assert!(matches!(patch_file(&path, &[(0, "x")]), Err(ChapterError::NoRoom)));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(matches!(patch_file(&path, &[(0, "x")]), Err(ChapterError::NoRoom)));
        std::fs::remove_file(path).unwrap();
    }
}
