//! The Podium server: the meeting (mediasoup SFU, signaling, speaker detection), the
//! recorder's control side, the HTTP API and the embedded web UI. The `podium` binary
//! (`main.rs`) is a thin shell over this library; integration tests and benchmarks
//! drive rooms and recordings through it directly.
pub mod assets;
pub mod auth;
pub mod cli;
pub mod http;
pub mod log_noise;
pub mod media;
pub mod name;
pub mod net;
pub mod protocol;
pub mod rate_limit;
pub mod recording;
pub mod reel;
pub mod room;
pub mod serve;
pub mod session;
pub mod simulcast;
pub mod speaker;
pub mod token;

/// What is logged when RUST_LOG is not set: Podium's own crates (the `server` library,
/// whose events carry its module paths, the `compositor`, and the `audit` target) at
/// info, everything else at warn.
pub const DEFAULT_LOG_FILTER: &str = "warn,server=info,podium=info,compositor=info,audit=info";
