//! What each output frame shows: who is on stage (`stage`), where each source goes
//! in the frame (`layout`), and the picture drawn from them with its labels (`compose`,
//! which doubles a picture's size itself: `upscale`).
pub(crate) mod stage;
pub mod layout;
pub mod compose;
mod upscale;
