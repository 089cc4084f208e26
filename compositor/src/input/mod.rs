//! What arrives, made usable: RTP parsed (`rtp`), reordered (`jitter`), reassembled
//! into frames (`depacketize`), decoded (`decode`) and placed on the recording's clock
//! (`clock`). All sans-IO except the FFmpeg decoders.
pub mod rtp;
pub(crate) mod jitter;
pub(crate) mod depacketize;
pub(crate) mod clock;
pub(crate) mod decode;
