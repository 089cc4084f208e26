//! What each output instant shows and sounds like: who is on stage (`stage`), the
//! picture with its label (`compose`), the audio mix (`mixer`), and the turns that
//! become chapters (`timeline`).
pub mod stage;
pub mod compose;
pub mod mixer;
pub mod timeline;
