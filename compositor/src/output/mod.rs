//! What a recording leaves on disk: the fragmented mp4 (`mp4`) with its chapters
//! (`chapters`), the sidecar JSON (`sidecar`) and the WebVTT speaker track (`vtt`).
pub mod mp4;
pub mod sidecar;
pub mod chapters;
pub mod vtt;
