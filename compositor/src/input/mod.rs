//! What arrives, made usable: RTP parsed (`rtp`), reordered (`jitter`), reassembled
//! into frames (`depacketize`), decoded (`decode`) and placed on the recording's clock
//! (`clock`). All sans-IO except the FFmpeg decoders.
pub mod rtp;
pub mod jitter;
pub mod depacketize;
pub mod clock;
pub mod decode;
