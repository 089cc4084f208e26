//! Which simulcast layer each consumer of a camera gets, sans-IO.
//!
//! Browsers send a camera in up to three layers, each half the width of the next
//! (about 320, 640 and 1280 px wide: see `web/src/meeting.js`). mediasoup forwards
//! one layer per consumer, the *preferred* one when the receiver's bandwidth allows,
//! else the best below it, and asks the sender for a keyframe at each switch. What to
//! prefer depends on how big the picture is drawn:
//!
//! - **A person's page**: the stage's camera is big (the top layer); over a share the
//!   speaker is a picture-in-picture a fifth of the stage wide (the middle one); a
//!   filmstrip tile is 176 px wide (the lowest).
//! - **A recording**: each camera's tile width in the recording's layout, from
//!   [`compositor::picture::layout::camera_widths`]: the smallest layer that fills it.
//!
//! A share is sent in one layer: it has nothing to choose.

use mediasoup::consumer::{Consumer, ConsumerType};

/// The number of spatial layers of a consumer of a simulcast camera (else `None`).
pub fn layers_of(consumer: &Consumer) -> Option<u8> {
    if consumer.r#type() != ConsumerType::Simulcast {
        return None;
    }
    let mode = &consumer.rtp_parameters().encodings.first()?.scalability_mode;
    Some(mode.spatial_layers().get())
}

/// The width of a simulcast camera's lowest layer (px); each next one doubles it.
pub const BASE_LAYER_WIDTH: u32 = 320;

/// What the pages' stages show now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stage {
    /// Whose camera is on the stage (the active speaker, else the first to have joined).
    pub speaker: Option<String>,
    /// Whose screen share is live.
    pub sharer: Option<String>,
}

/// The spatial layer `viewer`'s page wants of `owner`'s camera, which has `layers`
/// layers (at least 1).
pub fn for_page(stage: &Stage, viewer: &str, owner: &str, layers: u8) -> u8 {
    let top = layers.max(1) - 1;
    if stage.speaker.as_deref() != Some(owner) {
        return 0; // a filmstrip tile
    }
    match stage.sharer.as_deref() {
        // Another's share fills this page's stage: the speaker is the small picture.
        Some(sharer) if sharer != viewer => top.min(1),
        // The stage (the sharer keeps the speaker big and sees their share small).
        _ => top,
    }
}

/// The smallest of `layers` layers at least `width` px wide (the top one if none is).
pub fn for_width(width: u32, layers: u8) -> u8 {
    let top = layers.max(1) - 1;
    (0..top).find(|&i| BASE_LAYER_WIDTH << i >= width).unwrap_or(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(speaker: &str, sharer: Option<&str>) -> Stage {
        Stage { speaker: Some(speaker.into()), sharer: sharer.map(String::from) }
    }

    #[test]
    fn the_stage_gets_the_top_layer_and_the_filmstrip_the_lowest() {
        let s = stage("ada", None);
        assert_eq!(for_page(&s, "bob", "ada", 3), 2);
        assert_eq!(for_page(&s, "bob", "cy", 3), 0);
        // A camera sent in fewer layers: its top is lower.
        assert_eq!(for_page(&s, "bob", "ada", 2), 1);
        assert_eq!(for_page(&s, "bob", "ada", 1), 0);
    }

    #[test]
    fn over_a_share_the_speaker_is_small_except_on_the_sharers_own_page() {
        let s = stage("ada", Some("cy"));
        assert_eq!(for_page(&s, "bob", "ada", 3), 1, "the picture-in-picture");
        assert_eq!(for_page(&s, "cy", "ada", 3), 2, "the sharer sees the speaker big");
        assert_eq!(for_page(&s, "bob", "cy", 3), 0, "the sharer's camera is in the filmstrip");
    }

    #[test]
    fn a_tile_gets_the_smallest_layer_that_fills_it() {
        assert_eq!(for_width(1280, 3), 2);
        assert_eq!(for_width(640, 3), 1);
        assert_eq!(for_width(426, 3), 1);
        assert_eq!(for_width(282, 3), 0);
        assert_eq!(for_width(0, 3), 0);
        assert_eq!(for_width(1920, 3), 2, "nothing bigger than the top");
        assert_eq!(for_width(1280, 1), 0);
    }
}
