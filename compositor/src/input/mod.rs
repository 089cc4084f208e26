//! What arrives, made usable: RTP parsed (`rtp`), reordered (`jitter`), reassembled
//! into frames (`depacketize`), decoded (`decode`) and placed on the recording's clock
//! (`clock`). All sans-IO except the FFmpeg decoders, and `receive`, which takes the
//! datagrams off the socket for the process shell.
pub mod rtp;
pub(crate) mod receive;
pub(crate) mod jitter;
pub(crate) mod depacketize;
pub(crate) mod clock;
pub(crate) mod decode;
