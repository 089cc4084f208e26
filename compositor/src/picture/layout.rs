//! Where each source goes in the output frame, sans-IO: the recording's layout
//! (`speaker`, `speaker-strip`, `grid`), who speaks, who is present and who shares
//! their screen go in, with the time; tile rectangles and what fills them come out.
//! What a tile's camera shows (its picture, a held frame, a name card) is decided
//! elsewhere ([`super::stage`]); this only places.
//!
//! The rules (docs/architecture.md, "Layouts"):
//! - `speaker`: the stage fills the frame.
//! - `speaker-strip`: the stage large, and under it a strip of up to
//!   [`STRIP_TILES`] others, most recent speakers first.
//! - `grid`: everyone up to [`GRID_TILES`] (3x3), recent speakers first beyond that,
//!   in equal tiles; the speaker's tile is marked.
//! - A live screen share wins in every layout: the share fills the frame (above the
//!   strip in `speaker-strip`), and the stage is a picture-in-picture in the
//!   bottom-right corner, [`PIP_WIDTH`] of the width.
//! - No flicker: a participant keeps their slot; a slot changes hands only when
//!   someone new must come in, and then the one who spoke least recently leaves.
use std::collections::HashMap;
use std::hash::Hash;

/// Most tiles in the speaker-strip's strip.
pub const STRIP_TILES: usize = 6;
/// Most tiles in the grid (3x3).
pub const GRID_TILES: usize = 9;
/// The picture-in-picture's width, as a share of the frame's.
pub const PIP_WIDTH: f32 = 0.22;
/// The strip's height, as a share of the frame's.
const STRIP_HEIGHT: f32 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutKind {
    Speaker,
    SpeakerStrip,
    Grid,
}

impl LayoutKind {
    pub const NAMES: [&'static str; 3] = ["speaker", "speaker-strip", "grid"];

    /// The layout a recording starts with unless asked otherwise.
    pub const DEFAULT: LayoutKind = LayoutKind::Speaker;

    pub fn name(self) -> &'static str {
        match self {
            LayoutKind::Speaker => "speaker",
            LayoutKind::SpeakerStrip => "speaker-strip",
            LayoutKind::Grid => "grid",
        }
    }
}

impl std::str::FromStr for LayoutKind {
    type Err = UnknownLayout;

    fn from_str(s: &str) -> Result<Self, UnknownLayout> {
        match s {
            "speaker" => Ok(LayoutKind::Speaker),
            "speaker-strip" => Ok(LayoutKind::SpeakerStrip),
            "grid" => Ok(LayoutKind::Grid),
            _ => Err(UnknownLayout(s.chars().take(40).collect())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown layout \"{0}\": speaker, speaker-strip or grid")]
pub struct UnknownLayout(pub String);

/// A rectangle of the output frame, in pixels, with even edges (YUV 4:2:0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    fn even(x: f32, y: f32, width: f32, height: f32) -> Rect {
        let e = |v: f32| (v.max(0.0) as u32) & !1;
        Rect { x: e(x), y: e(y), width: e(width).max(2), height: e(height).max(2) }
    }
}

/// What fills a tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fill<P> {
    /// The stage: the speaker's camera, a held frame, their card or the waiting card.
    Stage,
    /// A participant's camera (their card without one).
    Camera(P),
    /// A participant's shared screen.
    Screen(P),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile<P> {
    pub rect: Rect,
    pub fill: Fill<P>,
    /// This tile is the active speaker's (the grid marks it with a border).
    pub speaking: bool,
}

/// The layout of one recording.
#[derive(Debug)]
pub struct Layout<P> {
    kind: LayoutKind,
    width: u32,
    height: u32,
    /// Present participants, in join order.
    present: Vec<P>,
    speaker: Option<P>,
    share: Option<P>,
    /// When each participant last held the stage (ms); never: absent.
    last_spoke: HashMap<P, u64>,
    /// The strip's or the grid's slots: who is in each, stable across frames.
    slots: Vec<Option<P>>,
}

impl<P: Clone + Eq + Hash> Layout<P> {
    pub fn new(kind: LayoutKind, width: u32, height: u32) -> Self {
        Self { kind, width, height, present: Vec::new(), speaker: None, share: None, last_spoke: HashMap::new(), slots: Vec::new() }
    }

    pub fn kind(&self) -> LayoutKind {
        self.kind
    }

    /// A layout change: the slots are laid out anew for the new shape.
    pub fn set_kind(&mut self, kind: LayoutKind) {
        if self.kind != kind {
            self.kind = kind;
            self.slots.clear();
        }
    }

    /// Who is in the recording now, in join order.
    pub fn set_present(&mut self, present: Vec<P>) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|p| !present.contains(p)) {
                *slot = None;
            }
        }
        self.present = present;
    }

    /// The stage's holder from `at_ms` on.
    pub fn set_speaker(&mut self, at_ms: u64, speaker: Option<P>) {
        if let Some(p) = &speaker {
            self.last_spoke.insert(p.clone(), at_ms);
        }
        if let Some(previous) = self.speaker.take() {
            // Recency counts to the end of a turn, not its start.
            self.last_spoke.insert(previous, at_ms);
        }
        self.speaker = speaker;
    }

    /// Whose screen share is live (`None`: no share).
    pub fn set_share(&mut self, sharer: Option<P>) {
        self.share = sharer;
    }

    pub fn share(&self) -> Option<&P> {
        self.share.as_ref()
    }

    /// The tiles of the frame, back to front.
    pub fn tiles(&mut self) -> Vec<Tile<P>> {
        let (w, h) = (self.width as f32, self.height as f32);
        let full = Rect::even(0.0, 0.0, w, h);
        let mut tiles = Vec::new();
        match (&self.share, self.kind) {
            (Some(sharer), LayoutKind::SpeakerStrip) => {
                let strip_top = h * (1.0 - STRIP_HEIGHT);
                tiles.push(Tile { rect: Rect::even(0.0, 0.0, w, strip_top), fill: Fill::Screen(sharer.clone()), speaking: false });
                tiles.extend(self.strip(strip_top));
                tiles.push(self.pip(strip_top));
            }
            (Some(sharer), _) => {
                tiles.push(Tile { rect: full, fill: Fill::Screen(sharer.clone()), speaking: false });
                tiles.push(self.pip(h));
            }
            (None, LayoutKind::Speaker) => tiles.push(Tile { rect: full, fill: Fill::Stage, speaking: true }),
            (None, LayoutKind::SpeakerStrip) => {
                let strip_top = h * (1.0 - STRIP_HEIGHT);
                tiles.push(Tile { rect: Rect::even(0.0, 0.0, w, strip_top), fill: Fill::Stage, speaking: true });
                tiles.extend(self.strip(strip_top));
            }
            (None, LayoutKind::Grid) => tiles.extend(self.grid()),
        }
        tiles
    }

    /// The stage, small, in the bottom-right corner above `bottom` (16:9, with a margin).
    /// Its width is a multiple of 32, so that its 16:9 height is whole and even: a 16:9
    /// camera fills it exactly (rounded separately, 280x158 left a 2-row black bar
    /// under a 280x156 camera).
    fn pip(&self, bottom: f32) -> Tile<P> {
        let w = ((self.width as f32 * PIP_WIDTH / 32.0).round() * 32.0).max(32.0);
        let h = w * 9.0 / 16.0;
        let margin = self.width as f32 * 0.015;
        Tile { rect: Rect::even(self.width as f32 - w - margin, bottom - h - margin, w, h), fill: Fill::Stage, speaking: true }
    }

    /// The strip under the stage (or under the share, the speaker being in the PiP):
    /// everyone but the speaker, the most recent speakers chosen first.
    fn strip(&mut self, top: f32) -> Vec<Tile<P>> {
        let others: Vec<P> = self.present.iter().filter(|p| Some(*p) != self.speaker.as_ref()).cloned().collect();
        let slots = self.fill_slots(&others, STRIP_TILES, true);
        let n = slots.len().max(1) as f32;
        let tile_h = self.height as f32 * STRIP_HEIGHT;
        // Tiles of 16:9 centred in the strip; narrower when many.
        let tile_w = (tile_h * 16.0 / 9.0).min(self.width as f32 / n);
        let left = (self.width as f32 - tile_w * n) / 2.0;
        slots
            .into_iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| Tile { rect: Rect::even(left + tile_w * i as f32, top, tile_w, tile_h), fill: Fill::Camera(p), speaking: false }))
            .collect()
    }

    fn grid(&mut self) -> Vec<Tile<P>> {
        let everyone = self.present.clone();
        let slots = self.fill_slots(&everyone, GRID_TILES, false);
        let n = slots.len().max(1);
        let (cols, rows) = match n {
            1 => (1, 1),
            2 => (2, 1),
            3 | 4 => (2, 2),
            5 | 6 => (3, 2),
            _ => (3, 3),
        };
        let (tw, th) = (self.width as f32 / cols as f32, self.height as f32 / rows as f32);
        slots
            .into_iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let p = p?;
                let (c, r) = ((i % cols) as f32, (i / cols) as f32);
                let speaking = self.speaker.as_ref() == Some(&p);
                Some(Tile { rect: Rect::even(c * tw, r * th, tw, th), fill: Fill::Camera(p), speaking })
            })
            .collect()
    }

    /// Fits `wanted` (in join order) into at most `max` stable slots: whoever has a slot
    /// keeps it; a newcomer takes a free slot, or, if none is free, the slot of the one
    /// in the slots who spoke least recently. When more are wanted than fit, the most
    /// recent speakers are the ones kept (then the earliest to join). Newcomers are
    /// placed most recent speaker first with `recent_first` (the strip), else in join
    /// order (the grid).
    fn fill_slots(&mut self, wanted: &[P], max: usize, recent_first: bool) -> Vec<Option<P>> {
        let recency = |p: &P| self.last_spoke.get(p).copied();
        // Who should be shown: the most recent speakers first, then join order.
        let mut ranked: Vec<(usize, &P)> = wanted.iter().enumerate().collect();
        ranked.sort_by(|(ia, a), (ib, b)| recency(b).cmp(&recency(a)).then(ia.cmp(ib)));
        let mut chosen: Vec<(usize, P)> = ranked.into_iter().take(max).map(|(i, p)| (i, p.clone())).collect();
        if !recent_first {
            chosen.sort_by_key(|(i, _)| *i);
        }
        let chosen: Vec<P> = chosen.into_iter().map(|(_, p)| p).collect();
        // Drop slots of those no longer chosen; keep everyone else in place.
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|p| !chosen.contains(p)) {
                *slot = None;
            }
        }
        for p in chosen {
            if self.slots.iter().any(|s| s.as_ref() == Some(&p)) {
                continue;
            }
            match self.slots.iter().position(Option::is_none) {
                Some(free) => self.slots[free] = Some(p),
                None => self.slots.push(Some(p)),
            }
        }
        // Trailing free slots collapse (the tiles then grow); inner ones stay, so
        // nobody moves when someone leaves.
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        self.slots.clone()
    }
}

/// How wide the cameras are drawn in a layout: the speaker's, and the widest of
/// everyone else's (0: the others are not shown). The server picks each camera's
/// simulcast layer from it: no wider than drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CameraWidths {
    pub speaker: u32,
    pub others: u32,
}

/// The cameras' widths in `kind` with `present` participants, a share or not, in a
/// `width` x `height` frame: laid out by the same rules as the frames themselves.
pub fn camera_widths(kind: LayoutKind, present: usize, share: bool, width: u32, height: u32) -> CameraWidths {
    let mut layout = Layout::new(kind, width, height);
    layout.set_present((0..present.max(1)).collect());
    layout.set_speaker(0, Some(0));
    if share {
        // The sharer is someone else (their camera, if shown, is another's tile).
        layout.set_share(Some(usize::MAX));
    }
    let mut widths = CameraWidths { speaker: 0, others: 0 };
    for tile in layout.tiles() {
        match tile.fill {
            Fill::Stage | Fill::Camera(0) => widths.speaker = widths.speaker.max(tile.rect.width),
            Fill::Camera(_) => widths.others = widths.others.max(tile.rect.width),
            Fill::Screen(_) => {}
        }
    }
    widths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(tiles: &[Tile<&'static str>]) -> Vec<Fill<&'static str>> {
        tiles.iter().map(|t| t.fill.clone()).collect()
    }

    fn cameras(tiles: &[Tile<&'static str>]) -> Vec<(&'static str, Rect)> {
        tiles.iter().filter_map(|t| if let Fill::Camera(p) = t.fill { Some((p, t.rect)) } else { None }).collect()
    }

    #[test]
    fn the_speaker_layout_is_the_stage_full_frame() {
        let mut l = Layout::new(LayoutKind::Speaker, 1280, 720);
        l.set_present(vec!["a", "b"]);
        l.set_speaker(0, Some("a"));
        let tiles = l.tiles();
        assert_eq!(who(&tiles), [Fill::Stage]);
        assert_eq!(tiles[0].rect, Rect { x: 0, y: 0, width: 1280, height: 720 });
    }

    #[test]
    fn a_share_fills_the_frame_with_the_speaker_in_the_bottom_right_corner() {
        for kind in [LayoutKind::Speaker, LayoutKind::Grid] {
            let mut l = Layout::new(kind, 1280, 720);
            l.set_present(vec!["a", "b", "c"]);
            l.set_speaker(0, Some("a"));
            l.set_share(Some("b"));
            let tiles = l.tiles();
            assert_eq!(who(&tiles), [Fill::Screen("b"), Fill::Stage], "{kind:?}");
            assert_eq!(tiles[0].rect, Rect { x: 0, y: 0, width: 1280, height: 720 });
            let pip = tiles[1].rect;
            assert!((pip.width as f32 - 1280.0 * PIP_WIDTH).abs() <= 16.0, "{pip:?}");
            assert_eq!(pip.width * 9, pip.height * 16, "exactly 16:9: {pip:?}");
            assert!(pip.x + pip.width <= 1280 && pip.x + pip.width > 1240 && pip.y + pip.height > 680 && pip.y + pip.height <= 720, "bottom right: {pip:?}");
            // The share stops: back to the layout.
            l.set_share(None);
            assert!(!who(&l.tiles()).iter().any(|f| matches!(f, Fill::Screen(_))));
        }
    }

    #[test]
    fn in_speaker_strip_the_strip_stays_under_the_share() {
        let mut l = Layout::new(LayoutKind::SpeakerStrip, 1280, 720);
        l.set_present(vec!["a", "b", "c"]);
        l.set_speaker(0, Some("a"));
        l.set_share(Some("c"));
        let tiles = l.tiles();
        assert_eq!(tiles[0].fill, Fill::Screen("c"));
        assert!(tiles[0].rect.height < 720);
        let strip = cameras(&tiles);
        assert_eq!(strip.iter().map(|(p, _)| *p).collect::<Vec<_>>(), ["b", "c"]);
        assert!(strip.iter().all(|(_, r)| r.y >= tiles[0].rect.height), "{strip:?}");
        assert_eq!(tiles.last().unwrap().fill, Fill::Stage, "the speaker in the PiP, over the share");
    }

    #[test]
    fn the_strip_shows_the_most_recent_speakers_first_up_to_six() {
        let mut l = Layout::new(LayoutKind::SpeakerStrip, 1280, 720);
        let people = vec!["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        l.set_present(people.clone());
        // h, then g spoke; then a holds the stage.
        l.set_speaker(1000, Some("h"));
        l.set_speaker(2000, Some("g"));
        l.set_speaker(3000, Some("a"));
        let tiles = l.tiles();
        assert_eq!(tiles[0].fill, Fill::Stage);
        let strip: Vec<_> = cameras(&tiles).into_iter().map(|(p, _)| p).collect();
        assert_eq!(strip.len(), STRIP_TILES);
        assert_eq!(&strip[..2], ["g", "h"], "most recent first: {strip:?}");
        assert!(!strip.contains(&"a"), "the speaker is on the stage, not in the strip");
        // Tiles are in the bottom fifth, side by side, none overlapping.
        let rects: Vec<Rect> = cameras(&tiles).into_iter().map(|(_, r)| r).collect();
        for w in rects.windows(2) {
            assert!(w[0].x + w[0].width <= w[1].x, "{rects:?}");
        }
        assert!(rects.iter().all(|r| r.y >= 576 && r.y + r.height <= 720));
    }

    #[test]
    fn slots_do_not_move_when_the_stage_changes_hands() {
        let mut l = Layout::new(LayoutKind::Grid, 1280, 720);
        l.set_present(vec!["a", "b", "c", "d"]);
        l.set_speaker(0, Some("a"));
        let before = cameras(&l.tiles());
        for (t, p) in [(1000, "c"), (2000, "b"), (3000, "d"), (4000, "a")] {
            l.set_speaker(t, Some(p));
            assert_eq!(cameras(&l.tiles()), before, "a tile moved when {p} spoke");
            let tiles = l.tiles();
            let marked: Vec<_> = tiles.iter().filter(|t| t.speaking).map(|t| t.fill.clone()).collect();
            assert_eq!(marked, [Fill::Camera(p)]);
        }
    }

    #[test]
    fn the_grid_shapes_and_overflow_keep_the_recent_speakers() {
        let shapes = [(1, 1280, 720), (2, 640, 720), (4, 640, 360), (6, 426, 360), (9, 426, 240)];
        for (n, w, h) in shapes {
            let people: Vec<&'static str> = ["a", "b", "c", "d", "e", "f", "g", "h", "i"][..n].to_vec();
            let mut l = Layout::new(LayoutKind::Grid, 1280, 720);
            l.set_present(people);
            let tiles = cameras(&l.tiles());
            assert_eq!(tiles.len(), n);
            assert!(tiles.iter().all(|(_, r)| r.width == w && r.height == h), "{n}: {tiles:?}");
        }
        // Eleven people: nine tiles; the two who never spoke and joined last are out,
        // until one of them speaks and takes the place of the least recent speaker.
        // Below the limit, the grid is in join order.
        let people = vec!["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"];
        let mut l = Layout::new(LayoutKind::Grid, 1280, 720);
        l.set_present(people);
        for (t, p) in ["a", "b", "c", "d", "e", "f", "g", "h", "i"].iter().enumerate() {
            l.set_speaker(t as u64 * 1000, Some(*p));
        }
        let before = cameras(&l.tiles());
        assert_eq!(before.len(), GRID_TILES);
        assert!(!before.iter().any(|(p, _)| *p == "j" || *p == "k"));
        l.set_speaker(20_000, Some("k"));
        let after = cameras(&l.tiles());
        let a_slot = before.iter().find(|(p, _)| *p == "a").unwrap().1;
        assert_eq!(after.iter().find(|(p, _)| *p == "k").map(|(_, r)| *r), Some(a_slot), "k takes the least recent speaker's slot");
        for (p, r) in after.iter().filter(|(p, _)| *p != "k") {
            assert_eq!(before.iter().find(|(q, _)| q == p).map(|(_, r)| *r), Some(*r), "{p} moved");
        }
    }

    #[test]
    fn someone_leaving_leaves_a_gap_rather_than_moving_others() {
        let mut l = Layout::new(LayoutKind::SpeakerStrip, 1280, 720);
        l.set_present(vec!["a", "b", "c", "d"]);
        l.set_speaker(0, Some("a"));
        let before = cameras(&l.tiles());
        l.set_present(vec!["a", "b", "d"]);
        let after = cameras(&l.tiles());
        assert_eq!(after.iter().find(|(p, _)| *p == "d"), before.iter().find(|(p, _)| *p == "d"));
    }

    #[test]
    fn a_layout_change_lays_out_anew() {
        let mut l = Layout::new(LayoutKind::Speaker, 1280, 720);
        l.set_present(vec!["a", "b"]);
        l.set_speaker(0, Some("a"));
        assert_eq!(who(&l.tiles()), [Fill::Stage]);
        l.set_kind(LayoutKind::Grid);
        assert_eq!(who(&l.tiles()), [Fill::Camera("a"), Fill::Camera("b")]);
        assert_eq!("speaker-strip".parse::<LayoutKind>(), Ok(LayoutKind::SpeakerStrip));
        assert!("mosaic".parse::<LayoutKind>().unwrap_err().to_string().contains("grid"));
    }

    #[test]
    fn the_grid_is_in_join_order_and_the_strip_most_recent_first() {
        let mut grid = Layout::new(LayoutKind::Grid, 1280, 720);
        let mut strip = Layout::new(LayoutKind::SpeakerStrip, 1280, 720);
        for l in [&mut grid, &mut strip] {
            l.set_present(vec!["a", "b", "c", "d"]);
            l.set_speaker(1000, Some("c"));
            l.set_speaker(2000, Some("b"));
            l.set_speaker(3000, Some("d"));
        }
        let order = |tiles: Vec<Tile<&'static str>>| cameras(&tiles).into_iter().map(|(p, _)| p).collect::<Vec<_>>();
        assert_eq!(order(grid.tiles()), ["a", "b", "c", "d"]);
        assert_eq!(order(strip.tiles()), ["b", "c", "a"], "d is on the stage; b spoke last before, then c");
    }

    #[test]
    fn camera_widths_follow_the_tiles() {
        let w = |kind, n, share| camera_widths(kind, n, share, 1280, 720);
        assert_eq!(w(LayoutKind::Speaker, 4, false), CameraWidths { speaker: 1280, others: 0 });
        assert_eq!(w(LayoutKind::Grid, 4, false), CameraWidths { speaker: 640, others: 640 });
        assert_eq!(w(LayoutKind::Grid, 9, false), CameraWidths { speaker: 426, others: 426 });
        let strip = w(LayoutKind::SpeakerStrip, 4, false);
        assert!(strip.speaker >= 1000 && strip.others > 200 && strip.others < 320, "{strip:?}");
        let share = w(LayoutKind::Speaker, 4, true);
        assert!(share.speaker > 250 && share.speaker < 320 && share.others == 0, "the picture-in-picture: {share:?}");
    }
}
