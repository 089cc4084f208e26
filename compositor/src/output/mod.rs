//! What a recording leaves on disk: the fragmented mp4 (`mp4`) with its chapters
//! (`chapters`) from the speaker turns (`timeline`), and the sidecar JSON (`sidecar`).
pub mod mp4;
pub mod chapters;
pub(crate) mod timeline;
pub mod sidecar;
