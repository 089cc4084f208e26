//! What the recording sounds like: everyone's audio mixed at its RTP position, with
//! loss concealment and a limiter (`mixer`).
pub mod mixer;
