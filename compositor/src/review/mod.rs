//! After the recording: reading an mp4 back (`probe`), choosing highlights
//! (`highlights`: the reel's selection in `reel`, cut by `cutter`), and the WebVTT
//! speaker track (`vtt`).
pub mod highlights;
pub mod reel;
pub(crate) mod cutter;
pub mod probe;
pub mod vtt;
