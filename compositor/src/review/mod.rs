//! After the recording: reading an mp4 back (`probe`), choosing highlights
//! (`highlights`), cutting them (`cutter`) and building the reel (`reel`).
pub mod highlights;
pub mod cutter;
pub mod reel;
pub mod probe;
