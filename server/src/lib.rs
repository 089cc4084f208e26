//! The Podium server: the meeting (mediasoup SFU, signaling, speaker detection), the
//! recorder's control side, the HTTP API and the embedded web UI. The `podium` binary
//! (`main.rs`) is a thin shell over this library; integration tests and benchmarks
//! drive rooms and recordings through it directly.
pub mod assets;
pub mod cli;
pub mod http;
pub mod media;
pub mod protocol;
pub mod recording;
pub mod reel;
pub mod room;
pub mod serve;
pub mod session;
pub mod speaker;
pub mod synthetic;
