//! What the recording sounds like: everyone's audio mixed at its RTP position, with
//! loss concealment and a limiter (`mixer`); and how active each second was
//! (`activity`).
pub mod activity;
pub mod mixer;
