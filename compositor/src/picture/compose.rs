//! Composes the output picture: the speaker's video scaled to fit a constant canvas
//! (black bars where the aspect differs) with their name on a label, a name card with
//! initials for a speaker without video, and a waiting card before anyone spoke. The
//! same, in tiles: each tile ([`Tile`]) is drawn into its rectangle of the canvas (a
//! layout's grid, a strip, a picture-in-picture), with an optional coloured border.
//! Everything is drawn straight into YUV420P planes; text is rasterized with fontdue.
use super::layout::Rect;
use ffmpeg_next as ffmpeg;
use ffmpeg::format::Pixel;
use ffmpeg::frame;
use ffmpeg::software::scaling;
use std::cell::RefCell;
use std::collections::HashMap;

/// Debian's fonts-dejavu-core (installed by scripts/setup.sh).
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

const BLACK: [u8; 3] = [16, 128, 128];
const WHITE_Y: u8 = 235;

pub(crate) enum Stage<'a> {
    Video { picture: &'a frame::Video, name: &'a str },
    /// A shared screen: fitted, never cropped, and unlabelled (the speaker's picture
    /// over it carries the name). With the tile's `id`, the same picture in the same
    /// place as the frame before is not scaled again.
    Screen { picture: &'a frame::Video },
    Card { name: &'a str },
    Waiting { title: &'a str },
}

/// One tile of a composed picture: what to draw, where, and an optional border (YUV).
pub(crate) struct Tile<'a> {
    pub rect: Rect,
    pub stage: Stage<'a>,
    pub border: Option<[u8; 3]>,
    /// What the tile shows (the same number for the same picture, card or label), if
    /// the caller knows: a tile shown as it was in the frame before is left as it is.
    pub id: Option<u64>,
}

/// How pictures are scaled to their tiles: bilinear. (swscale's fast bilinear saves
/// about 3 % of the compositor's CPU but costs 0.01 of SSIM on an upscaled camera:
/// docs/benchmarks.md.)
const SCALING: scaling::Flags = scaling::Flags::BILINEAR;

/// Scalers kept at most (one per source size and tile size in use).
const MAX_SCALERS: usize = 24;
/// swscale's SIMD output writes a plane's rows in whole blocks (8 to 32 bytes on x86),
/// past the width it was asked for, up to the block's end (FFmpeg's frames have the
/// room: their rows are padded). A picture drawn this many pixels wide (its chroma
/// half as many) leaves no partial block, and is scaled straight into the canvas;
/// any other width is scaled into a picture of its own, with room, and copied into
/// place, so that nothing beside its tile is written.
const SCALER_BLOCK: u32 = 64;
/// A scaler's source format and size, and the size it draws.
type ScalerKey = (Pixel, u32, u32, u32, u32);
/// Labels are never smaller than this (px), so that a small tile's name stays legible.
const MIN_LABEL_PX: f32 = 14.0;
/// A tile's border, px.
const BORDER_PX: u32 = 4;

/// The bytes of glyphs kept rasterized: every label and card of a meeting many times
/// over (a label's glyph is about 1 KB, a card's initial at 180 px about 30 KB). Names
/// are the participants' words, so the characters are theirs too: a room that rejoins
/// under ever new names must not grow the compositor without end. Past it the cache
/// starts again, and the text drawn next rasterizes its few glyphs anew.
const MAX_GLYPH_BYTES: usize = 4 << 20;

/// Rasterized glyphs by (character, size), with the bytes their bitmaps hold.
#[derive(Default)]
struct GlyphCache {
    glyphs: HashMap<(char, u32), (fontdue::Metrics, Vec<u8>)>,
    bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("cannot load the label font: {0}")]
    Font(String),
    #[error("cannot scale the video: {0}")]
    Scale(ffmpeg::Error),
}

pub(crate) struct Composer {
    width: u32,
    height: u32,
    font: fontdue::Font,
    /// Rasterized glyphs: labels repeat every frame.
    glyphs: RefCell<GlyphCache>,
    /// Scalers by (source format, source size, drawn size): a tile's source keeps its
    /// size from frame to frame, so each is made once. A few at most: a short list.
    /// With each, the picture it scales into when its width is not whole blocks
    /// ([`SCALER_BLOCK`]), made at its first use.
    scalers: Vec<(ScalerKey, scaling::Context, Option<frame::Video>)>,
    /// The output picture, drawn anew for each frame in the same memory (a 720p frame
    /// allocated per frame costs page faults, thirty times a second).
    canvas: frame::Video,
    /// The canvas as it was after its first tile was a screen: (that screen's `id`, its
    /// rectangle, the canvas). A share changes a few times a second while the picture
    /// over it changes with every frame; copying this back costs a memcpy, where
    /// scaling a 1080p screen again costs milliseconds.
    backdrop: Option<(u64, Rect, frame::Video)>,
    /// The tiles the canvas holds now, as drawn: (place, content, border). A tile that
    /// comes again the same, in the same layout, is not drawn again: a grid's
    /// thumbnails and cards change less often than its frames.
    on_canvas: Vec<(Rect, Option<u64>, Option<[u8; 3]>)>,
}

impl Composer {
    pub fn new(width: u32, height: u32, font_path: &str) -> Result<Self, ComposeError> {
        let bytes = std::fs::read(font_path).map_err(|e| ComposeError::Font(format!("{font_path}: {e}")))?;
        let font = fontdue::Font::from_bytes(bytes, fontdue::FontSettings::default()).map_err(|e| ComposeError::Font(e.to_string()))?;
        let (width, height) = (width & !1, height & !1);
        let canvas = frame::Video::new(Pixel::YUV420P, width, height);
        Ok(Self { width, height, font, glyphs: RefCell::new(GlyphCache::default()), scalers: Vec::new(), canvas, backdrop: None, on_canvas: Vec::new() })
    }

    /// Draws the next output picture, `stage` filling the frame, and lends it (to be
    /// encoded, then drawn over).
    #[cfg(test)]
    pub fn compose(&mut self, stage: Stage<'_>) -> Result<&mut frame::Video, ComposeError> {
        let rect = Rect { x: 0, y: 0, width: self.width, height: self.height };
        self.compose_tiles(&[Tile { rect, stage, border: None, id: None }])
    }

    /// Draws the next output picture from `tiles`, back to front, on black.
    pub fn compose_tiles(&mut self, tiles: &[Tile<'_>]) -> Result<&mut frame::Video, ComposeError> {
        // The encoder has let go of the last frame; if it had not, this copies it first.
        // SAFETY: the frame is allocated and owned by us.
        if unsafe { ffmpeg::ffi::av_frame_make_writable(self.canvas.as_mut_ptr()) } < 0 {
            self.canvas = frame::Video::new(Pixel::YUV420P, self.width, self.height);
            self.on_canvas.clear();
        }
        let mut canvas = std::mem::replace(&mut self.canvas, frame::Video::empty());
        let drawn = self.draw_all(&mut canvas, tiles);
        self.canvas = canvas;
        if drawn.is_err() {
            self.on_canvas.clear();
        }
        drawn?;
        Ok(&mut self.canvas)
    }

    fn draw_all(&mut self, canvas: &mut frame::Video, tiles: &[Tile<'_>]) -> Result<(), ComposeError> {
        let screen = match tiles.first() {
            Some(Tile { rect, stage: Stage::Screen { .. }, border: None, id: Some(id) }) => Some((*id, *rect)),
            _ => None,
        };
        let same_layout = self.on_canvas.len() == tiles.len() && self.on_canvas.iter().zip(tiles).all(|(on, t)| on.0 == t.rect);
        let was = std::mem::take(&mut self.on_canvas);
        self.on_canvas = tiles.iter().map(|t| (t.rect, t.id, t.border)).collect();
        if same_layout && screen.is_none() {
            // Only what changed is drawn; the gaps between tiles are black already.
            let mut redrawn: Vec<Rect> = Vec::new();
            for (tile, before) in tiles.iter().zip(&was) {
                let unchanged = tile.id.is_some() && *before == (tile.rect, tile.id, tile.border);
                if unchanged && !redrawn.iter().any(|r| overlaps(r, &tile.rect)) {
                    continue;
                }
                self.draw(canvas, tile)?;
                redrawn.push(tile.rect);
            }
            self.backdrop = None;
            return Ok(());
        }
        let mut rest = tiles;
        match (&self.backdrop, screen) {
            (Some((id, rect, backdrop)), Some(now)) if (*id, *rect) == now => {
                copy_planes(backdrop, canvas);
                rest = &tiles[1..];
            }
            _ => {
                let full = tiles.first().is_some_and(|t| t.rect == Rect { x: 0, y: 0, width: self.width, height: self.height });
                if !full {
                    fill(canvas, BLACK);
                }
                if let (Some((id, rect)), Some(first)) = (screen, tiles.first()) {
                    self.draw(canvas, first)?;
                    let mut backdrop = match self.backdrop.take() {
                        Some((_, _, frame)) => frame,
                        None => frame::Video::new(Pixel::YUV420P, self.width, self.height),
                    };
                    copy_planes(canvas, &mut backdrop);
                    self.backdrop = Some((id, rect, backdrop));
                    rest = &tiles[1..];
                }
            }
        }
        if screen.is_none() {
            // No share on screen: its memory is given back.
            self.backdrop = None;
        }
        rest.iter().try_for_each(|tile| self.draw(canvas, tile))
    }

    /// The picture last composed (to encode it again when nothing changed).
    pub fn last(&mut self) -> &mut frame::Video {
        &mut self.canvas
    }

    fn draw(&mut self, canvas: &mut frame::Video, tile: &Tile<'_>) -> Result<(), ComposeError> {
        let r = self.clip(tile.rect);
        let (x, y, w, h) = (r.x as f32, r.y as f32, r.width as f32, r.height as f32);
        match &tile.stage {
            Stage::Video { picture, name } => {
                self.place(picture, canvas, r)?;
                self.label(canvas, r, name);
            }
            Stage::Screen { picture } => self.place(picture, canvas, r)?,
            Stage::Card { name } => {
                fill_rect(canvas, r, color_for(name));
                let px = h / 4.0;
                let text = initials(name);
                let tw = self.text_width(&text, px);
                self.draw_text(canvas, r, &text, x + (w - tw) / 2.0, y + h / 2.0 + px * 0.35, px);
                self.label(canvas, r, name);
            }
            Stage::Waiting { title } => {
                fill_rect(canvas, r, [24, 128, 128]);
                let px = (h / 18.0).max(MIN_LABEL_PX);
                let tw = self.text_width(title, px);
                self.draw_text(canvas, r, title, x + (w - tw) / 2.0, y + h / 2.0, px);
            }
        }
        if let Some(colour) = tile.border {
            border(canvas, r, BORDER_PX, colour);
        }
        Ok(())
    }

    /// `rect` within the canvas, with even edges.
    fn clip(&self, rect: Rect) -> Rect {
        let x = rect.x.min(self.width.saturating_sub(2)) & !1;
        let y = rect.y.min(self.height.saturating_sub(2)) & !1;
        let width = (rect.width.min(self.width - x) & !1).max(2);
        let height = (rect.height.min(self.height - y) & !1).max(2);
        Rect { x, y, width, height }
    }

    /// Scales `picture` to fit `rect`, keeping its aspect, centred in it, on black
    /// bars. A picture that has the size it is drawn at is copied, not scaled.
    fn place(&mut self, picture: &frame::Video, canvas: &mut frame::Video, rect: Rect) -> Result<(), ComposeError> {
        let (sw, sh) = (picture.width(), picture.height());
        if sw == 0 || sh == 0 {
            fill_rect(canvas, rect, BLACK);
            return Ok(());
        }
        let scale = f64::min(f64::from(rect.width) / f64::from(sw), f64::from(rect.height) / f64::from(sh));
        let (dw, dh) = ((((f64::from(sw) * scale) as u32) & !1).clamp(2, rect.width), (((f64::from(sh) * scale) as u32) & !1).clamp(2, rect.height));
        let (ox, oy) = ((rect.x + (rect.width - dw) / 2) & !1, (rect.y + (rect.height - dh) / 2) & !1);
        fill_around(canvas, rect, Rect { x: ox, y: oy, width: dw, height: dh }, BLACK);
        if picture.format() == Pixel::YUV420P && (sw, sh) == (dw, dh) {
            copy_planes_at(picture, canvas, ox, oy);
            return Ok(());
        }
        if picture.format() == Pixel::YUV420P && (2 * sw, 2 * sh) == (dw, dh) && sw % 2 == 0 && sh % 2 == 0 {
            double_planes_at(picture, canvas, ox, oy);
            return Ok(());
        }
        let key = (picture.format(), sw, sh, dw, dh);
        let index = match self.scalers.iter().position(|(k, ..)| *k == key) {
            Some(i) => i,
            None => {
                if self.scalers.len() >= MAX_SCALERS {
                    self.scalers.remove(0);
                }
                let ctx = scaling::Context::get(picture.format(), sw, sh, Pixel::YUV420P, dw, dh, SCALING).map_err(ComposeError::Scale)?;
                self.scalers.push((key, ctx, None));
                self.scalers.len() - 1
            }
        };
        let (_, scaler, scratch) = &mut self.scalers[index];
        if dw % SCALER_BLOCK == 0 {
            // Scaled straight into its place on the canvas: no picture in between.
            // SAFETY: the scaled picture (dw x dh, even) fits inside `rect`, which `clip`
            // keeps inside the canvas, at (ox, oy); its rows are whole blocks, so the
            // scaler writes nothing beside it.
            unsafe { scale_into(scaler, picture, canvas, ox, oy) }?;
        } else {
            // Its last block would spill over what is beside the tile (the share around
            // a picture-in-picture, the next tile, the gaps): scaled apart, then copied.
            let scratch = scratch.get_or_insert_with(|| frame::Video::new(Pixel::YUV420P, dw.next_multiple_of(SCALER_BLOCK), dh));
            // SAFETY: the scratch picture is dh rows of whole blocks, at least dw wide.
            unsafe { scale_into(scaler, picture, scratch, 0, 0) }?;
            copy_area(scratch, dw, dh, canvas, ox, oy);
        }
        Ok(())
    }

    /// The name on a dark box at the bottom left of `r`.
    fn label(&self, canvas: &mut frame::Video, r: Rect, name: &str) {
        let h = r.height as f32;
        let px = (h / 24.0).max(MIN_LABEL_PX);
        let pad = px * 0.5;
        let w = self.text_width(name, px);
        let margin = (h / 30.0).max(2.0);
        let (x0, y1) = (r.x as f32 + margin, (r.y + r.height) as f32 - margin);
        let (bx0, by0, bx1, by1) = (x0, (y1 - px - 2.0 * pad).max(r.y as f32), x0 + w + 2.0 * pad, y1);
        darken(canvas, bx0 as usize, by0 as usize, (bx1 as usize).min((r.x + r.width) as usize), by1 as usize);
        self.draw_text(canvas, r, name, x0 + pad, y1 - pad - px * 0.2, px);
    }

    fn text_width(&self, text: &str, px: f32) -> f32 {
        text.chars().map(|c| self.font.metrics(c, px).advance_width).sum()
    }

    /// White text with its baseline at `baseline`, blended by glyph coverage (luma to
    /// white, and the half-resolution chroma towards neutral, so that text on a
    /// coloured card is white, not tinted); clipped to `clip` (its tile).
    fn draw_text(&self, canvas: &mut frame::Video, clip: Rect, text: &str, x: f32, baseline: f32, px: f32) {
        let (left_edge, top_edge) = (i64::from(clip.x), i64::from(clip.y));
        let (width, height) = (i64::from(clip.x + clip.width), i64::from(clip.y + clip.height));
        let strides = [canvas.stride(0), canvas.stride(1), canvas.stride(2)];
        let mut pen = x;
        let mut cache = self.glyphs.borrow_mut();
        for c in text.chars() {
            let key = (c, px.to_bits());
            if !cache.glyphs.contains_key(&key) {
                let (metrics, bitmap) = self.font.rasterize(c, px);
                if cache.bytes + bitmap.len() > MAX_GLYPH_BYTES {
                    *cache = GlyphCache::default();
                }
                cache.bytes += bitmap.len();
                cache.glyphs.insert(key, (metrics, bitmap));
            }
            let (m, bitmap) = &cache.glyphs[&key];
            let m = *m;
            let top = baseline as i64 - m.height as i64 - m.ymin as i64;
            let left = pen as i64 + m.xmin as i64;
            for gy in 0..m.height as i64 {
                for gx in 0..m.width as i64 {
                    let (cx, cy) = (left + gx, top + gy);
                    if cx < left_edge || cy < top_edge || cx >= width || cy >= height {
                        continue;
                    }
                    let a = u32::from(bitmap[(gy as usize) * m.width + gx as usize]);
                    if a == 0 {
                        continue;
                    }
                    let i = cy as usize * strides[0] + cx as usize;
                    let y = &mut canvas.data_mut(0)[i];
                    *y = ((u32::from(*y) * (255 - a) + u32::from(WHITE_Y) * a) / 255) as u8;
                    // Each chroma sample covers 4 luma pixels: a quarter of the pull each.
                    for plane in 1..3 {
                        let j = (cy as usize / 2) * strides[plane] + cx as usize / 2;
                        let v = &mut canvas.data_mut(plane)[j];
                        let pull = a / 4;
                        *v = ((u32::from(*v) * (255 - pull) + 128 * pull) / 255) as u8;
                    }
                }
            }
            pen += m.advance_width;
        }
    }
}

/// Scales `picture` with `scaler` (made for its format and size) into `to` (YUV420P),
/// its top left corner at (`x`, `y`) (even).
///
/// # Safety
/// `scaler` was made for `picture`'s format and size, and its output, its width rounded
/// up to whole [`SCALER_BLOCK`]s, fits in `to` at (`x`, `y`) for all its rows.
unsafe fn scale_into(scaler: &mut scaling::Context, picture: &frame::Video, to: &mut frame::Video, x: u32, y: u32) -> Result<(), ComposeError> {
    let src = picture.as_ptr();
    let dst = to.as_mut_ptr();
    let mut planes = [std::ptr::null_mut::<u8>(); 4];
    let mut strides = [0i32; 4];
    for plane in 0..3 {
        let div = if plane == 0 { 1 } else { 2 };
        let stride = (*dst).linesize[plane];
        let offset = (y / div) as isize * stride as isize + (x / div) as isize;
        planes[plane] = (*dst).data[plane].offset(offset);
        strides[plane] = stride;
    }
    let result = ffmpeg::ffi::sws_scale(scaler.as_mut_ptr(), (*src).data.as_ptr() as *const *const u8, (*src).linesize.as_ptr(), 0, picture.height() as i32, planes.as_ptr(), strides.as_ptr());
    if result < 0 {
        return Err(ComposeError::Scale(ffmpeg::Error::from(result)));
    }
    Ok(())
}

/// Copies one YUV420P picture into another of the same size, row by row: their rows
/// may be padded differently (a frame FFmpeg reallocated is aligned its own way).
fn copy_planes(from: &frame::Video, to: &mut frame::Video) {
    copy_planes_at(from, to, 0, 0);
}

/// `from` at twice its size (its sides even) with its top-left corner at (`x`, `y`)
/// (even) of `to`, which holds it.
fn double_planes_at(from: &frame::Video, to: &mut frame::Video, x: u32, y: u32) {
    for plane in 0..3 {
        let div = if plane == 0 { 1 } else { 2 };
        let (w, h) = ((from.width() / div) as usize, (from.height() / div) as usize);
        let (src_stride, dst_stride) = (from.stride(plane), to.stride(plane));
        let start = (y / div) as usize * dst_stride + (x / div) as usize;
        super::upscale::double_plane(from.data(plane), src_stride, w, h, &mut to.data_mut(plane)[start..], dst_stride);
    }
}

/// Copies a YUV420P picture into `to` with its top left corner at (`x`, `y`) (even),
/// clipped to `to`.
fn copy_planes_at(from: &frame::Video, to: &mut frame::Video, x: u32, y: u32) {
    copy_area(from, from.width(), from.height(), to, x, y);
}

/// Copies the top left `width` x `height` (even) of a YUV420P picture into `to` with
/// its top left corner at (`x`, `y`) (even), clipped to `to`.
fn copy_area(from: &frame::Video, width: u32, height: u32, to: &mut frame::Video, x: u32, y: u32) {
    let width = width.min(from.width()).min(to.width().saturating_sub(x)) as usize;
    let height = height.min(from.height()).min(to.height().saturating_sub(y)) as usize;
    for plane in 0..3 {
        let div = if plane == 0 { 1 } else { 2 };
        let (w, h, x, y) = (width / div, height / div, x as usize / div, y as usize / div);
        let (src_stride, dst_stride) = (from.stride(plane), to.stride(plane));
        let src = from.data(plane);
        let dst = to.data_mut(plane);
        for row in 0..h {
            let at = (y + row) * dst_stride + x;
            dst[at..at + w].copy_from_slice(&src[row * src_stride..row * src_stride + w]);
        }
    }
}

/// Fills what of `outer` is outside `inner` (both even, `inner` inside `outer`).
fn fill_around(canvas: &mut frame::Video, outer: Rect, inner: Rect, yuv: [u8; 3]) {
    let (inner_bottom, outer_bottom) = (inner.y + inner.height, outer.y + outer.height);
    let (inner_right, outer_right) = (inner.x + inner.width, outer.x + outer.width);
    let bands = [
        Rect { x: outer.x, y: outer.y, width: outer.width, height: inner.y - outer.y },
        Rect { x: outer.x, y: inner_bottom, width: outer.width, height: outer_bottom - inner_bottom },
        Rect { x: outer.x, y: inner.y, width: inner.x - outer.x, height: inner.height },
        Rect { x: inner_right, y: inner.y, width: outer_right - inner_right, height: inner.height },
    ];
    for band in bands.into_iter().filter(|b| b.width > 0 && b.height > 0) {
        fill_rect(canvas, band, yuv);
    }
}

fn overlaps(a: &Rect, b: &Rect) -> bool {
    a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
}

fn fill(canvas: &mut frame::Video, yuv: [u8; 3]) {
    for (plane, value) in yuv.iter().enumerate() {
        canvas.data_mut(plane).fill(*value);
    }
}

/// Fills `r` (even edges, inside the canvas) with a colour.
fn fill_rect(canvas: &mut frame::Video, r: Rect, yuv: [u8; 3]) {
    if r.x == 0 && r.y == 0 && r.width == canvas.width() && r.height == canvas.height() {
        return fill(canvas, yuv);
    }
    for (plane, value) in yuv.iter().enumerate() {
        let div = if plane == 0 { 1 } else { 2 };
        let stride = canvas.stride(plane);
        let (x0, x1) = ((r.x / div) as usize, ((r.x + r.width) / div) as usize);
        let data = canvas.data_mut(plane);
        for y in (r.y / div) as usize..((r.y + r.height) / div) as usize {
            data[y * stride + x0..y * stride + x1].fill(*value);
        }
    }
}

/// A frame of `px` (even) around the inside of `r`.
fn border(canvas: &mut frame::Video, r: Rect, px: u32, yuv: [u8; 3]) {
    let px = (px.min(r.width / 2).min(r.height / 2) & !1).max(2);
    for side in [
        Rect { x: r.x, y: r.y, width: r.width, height: px },
        Rect { x: r.x, y: r.y + r.height - px, width: r.width, height: px },
        Rect { x: r.x, y: r.y, width: px, height: r.height },
        Rect { x: r.x + r.width - px, y: r.y, width: px, height: r.height },
    ] {
        fill_rect(canvas, side, yuv);
    }
}

/// Darkens a rectangle (luma to 35 %, chroma towards grey) for a readable label.
fn darken(canvas: &mut frame::Video, x0: usize, y0: usize, x1: usize, y1: usize) {
    for plane in 0..3 {
        let div = if plane == 0 { 1 } else { 2 };
        let stride = canvas.stride(plane);
        let rows = canvas.plane_height(plane) as usize;
        let cols = canvas.plane_width(plane) as usize;
        let data = canvas.data_mut(plane);
        for y in (y0 / div)..(y1 / div).min(rows) {
            for x in (x0 / div)..(x1 / div).min(cols) {
                let v = &mut data[y * stride + x];
                *v = if plane == 0 { 16 + ((u32::from(*v).saturating_sub(16)) * 35 / 100) as u8 } else { ((u32::from(*v) + 3 * 128) / 4) as u8 };
            }
        }
    }
}

/// Initials of a name, as the web UI shows them.
pub fn initials(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    match words.as_slice() {
        [] => "?".into(),
        [one] => one.chars().take(2).collect::<String>().to_uppercase(),
        [first, .., last] => format!("{}{}", first.chars().next().unwrap_or('?'), last.chars().next().unwrap_or('?')).to_uppercase(),
    }
}

/// The per-name colour of the web UI (hsl(h, 45 %, 38 %), h from the name), in YUV.
pub(crate) fn color_for(name: &str) -> [u8; 3] {
    rgb_to_yuv(rgb_for(name))
}

/// The per-name colour as RGB (what a viewer of the recording sees on a name card).
pub fn rgb_for(name: &str) -> [u8; 3] {
    let h = name.chars().fold(0u32, |h, c| (h * 31 + c as u32) % 360) as f32;
    let (s, l) = (0.45_f32, 0.38_f32);
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = l - c / 2.0;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    [((r + m) * 255.0).round() as u8, ((g + m) * 255.0).round() as u8, ((b + m) * 255.0).round() as u8]
}

/// BT.601 limited-range YUV of an RGB colour, as libx264 and players expect by default.
pub fn rgb_to_yuv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
    let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
    let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
    let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
    [y.round() as u8, u.round() as u8, v.round() as u8]
}

#[cfg(test)]
mod tests {
    use super::super::layout::{self, Layout, LayoutKind};
    use super::*;

    fn at(f: &frame::Video, plane: usize, x: usize, y: usize) -> u8 {
        let div = if plane == 0 { 1 } else { 2 };
        f.data(plane)[(y / div) * f.stride(plane) + x / div]
    }

    fn solid(w: u32, h: u32, yuv: [u8; 3]) -> frame::Video {
        let mut f = frame::Video::new(Pixel::YUV420P, w, h);
        fill(&mut f, yuv);
        f
    }

    fn bright_pixels(f: &frame::Video, x0: usize, y0: usize, x1: usize, y1: usize) -> usize {
        (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).filter(|&(x, y)| at(f, 0, x, y) > 200).count()
    }

    #[test]
    fn a_4_3_video_is_pillarboxed_and_labelled() {
        ffmpeg::init().unwrap();
        let mut c = Composer::new(1280, 720, DEFAULT_FONT).unwrap();
        let red = [81, 90, 240];
        let out = c.compose(Stage::Video { picture: &solid(320, 240, red), name: "Ada Lovelace" }).unwrap();
        assert_eq!((out.width(), out.height()), (1280, 720));
        // 4:3 in 16:9: 960 wide, bars of 160 on each side.
        assert_eq!((at(&out, 0, 50, 360), at(&out, 2, 50, 360)), (16, 128), "left bar is black");
        assert_eq!(at(&out, 0, 1230, 360), 16, "right bar is black");
        let centre = (at(&out, 0, 640, 300), at(&out, 1, 640, 300), at(&out, 2, 640, 300));
        assert!(centre.0.abs_diff(81) <= 2 && centre.1.abs_diff(90) <= 2 && centre.2.abs_diff(240) <= 2, "{centre:?}");
        // The label: white text in a dark box at the bottom left.
        assert!(bright_pixels(&out, 20, 640, 400, 700) > 200, "no label text");
        assert!(at(&out, 0, 30, 695) < 30, "label box not dark");
        // Nothing drawn at the top.
        assert_eq!(bright_pixels(&out, 0, 0, 1280, 100), 0);
    }

    #[test]
    fn a_picture_doubled_on_the_stage_matches_swscales_bilinear() {
        ffmpeg::init().unwrap();
        // A busy 640x360 picture (a gradient, fine stripes and speckle) fills a
        // 1280x720 stage at twice its size: drawn by `upscale`, it must look as
        // swscale's bilinear draws it.
        let (w, h) = (640u32, 360u32);
        let mut picture = frame::Video::new(Pixel::YUV420P, w, h);
        for plane in 0..3 {
            let stride = picture.stride(plane);
            let div = if plane == 0 { 1 } else { 2 };
            for y in 0..(h / div) as usize {
                for x in 0..(w / div) as usize {
                    let speckle = ((x * 7919 + y * 104_729 + plane * 31) % 97) as u8;
                    let v = (x / 3 + y / 2) as u8 ^ if (x / 2 + y) % 5 == 0 { 0x55 } else { 0 };
                    picture.data_mut(plane)[y * stride + x] = v.wrapping_add(speckle);
                }
            }
        }
        let mut ours = Composer::new(1280, 720, DEFAULT_FONT).unwrap();
        let drawn = ours.compose_tiles(&[Tile { rect: Rect { x: 0, y: 0, width: 1280, height: 720 }, stage: Stage::Screen { picture: &picture }, border: None, id: None }]).unwrap().clone();
        let mut scaler = scaling::Context::get(Pixel::YUV420P, w, h, Pixel::YUV420P, 2 * w, 2 * h, SCALING).unwrap();
        let mut reference = frame::Video::empty();
        scaler.run(&picture, &mut reference).unwrap();
        for plane in 0..3 {
            let div = if plane == 0 { 1 } else { 2 };
            let (mut squared, mut n, mut worst) = (0f64, 0f64, 0u8);
            for y in 0..(720 / div) as usize {
                for x in 0..(1280 / div) as usize {
                    let (a, b) = (drawn.data(plane)[y * drawn.stride(plane) + x], reference.data(plane)[y * reference.stride(plane) + x]);
                    squared += f64::from(a.abs_diff(b)).powi(2);
                    worst = worst.max(a.abs_diff(b));
                    n += 1.0;
                }
            }
            let psnr = 10.0 * (255.0f64.powi(2) / (squared / n).max(1e-9)).log10();
            assert!(psnr > 50.0, "plane {plane}: {psnr:.1} dB from swscale's bilinear (worst pixel {worst} apart)");
        }
    }

    #[test]
    fn labels_in_ever_new_characters_keep_the_glyph_cache_bounded_and_still_draw() {
        let mut c = Composer::new(640, 360, DEFAULT_FONT).unwrap();
        // 400 names of 12 characters, none seen before: 4800 label glyphs and 800 big
        // initials on the cards, about 25 MB rasterized.
        let mut most = 0;
        for n in 0..400u32 {
            let name: String = (0..12).map(|k| char::from_u32(0x4E00 + n * 12 + k).unwrap()).collect();
            let name = format!("{} {name}", char::from_u32(0x4E00 + 5000 + n).unwrap());
            c.compose(Stage::Card { name: &name }).unwrap();
            let cache = c.glyphs.borrow();
            assert_eq!(cache.bytes, cache.glyphs.values().map(|(_, b)| b.len()).sum::<usize>());
            assert!(cache.bytes <= MAX_GLYPH_BYTES, "{} bytes of glyphs after {n} names", cache.bytes);
            most = most.max(cache.bytes);
        }
        assert!(most > MAX_GLYPH_BYTES / 2, "the bound was never approached ({most} bytes): the test asks too little");
        let out = c.compose(Stage::Card { name: "Grace Hopper" }).unwrap();
        assert!(bright_pixels(&out, 220, 100, 420, 230) > 500, "the initials still draw after the cache started again");
    }

    #[test]
    fn a_speaker_without_video_gets_a_name_card() {
        let mut c = Composer::new(1280, 720, DEFAULT_FONT).unwrap();
        let out = c.compose(Stage::Card { name: "Grace Hopper" }).unwrap();
        let bg = color_for("Grace Hopper");
        assert_eq!((at(&out, 0, 100, 100), at(&out, 1, 100, 100), at(&out, 2, 100, 100)), (bg[0], bg[1], bg[2]));
        assert!(bright_pixels(&out, 440, 200, 840, 460) > 2000, "no initials in the centre");
        // The initials are white, not tinted by the card: chroma near neutral inside them.
        let (x, y) = (400..880).flat_map(|x| (200..460).map(move |y| (x, y))).find(|&(x, y)| (x..x + 4).all(|x| (y..y + 4).all(|y| at(&out, 0, x, y) > 225))).expect("a solid patch of a letter");
        assert!(at(&out, 1, x + 2, y + 2).abs_diff(128) < 12 && at(&out, 2, x + 2, y + 2).abs_diff(128) < 12, "tinted text");
        assert!(bright_pixels(&out, 20, 640, 400, 700) > 200, "no name label");
        assert_eq!(initials("Grace Hopper"), "GH");
        assert_eq!(initials("ada"), "AD");
    }

    #[test]
    fn before_anyone_speaks_the_title_shows() {
        let mut c = Composer::new(640, 360, DEFAULT_FONT).unwrap();
        let out = c.compose(Stage::Waiting { title: "standup: waiting for the first speaker" }).unwrap();
        assert!(bright_pixels(&out, 0, 150, 640, 200) > 100);
        assert_eq!(at(&out, 0, 5, 5), 24);
    }

    #[test]
    fn a_missing_font_is_a_clear_error() {
        let err = Composer::new(1280, 720, "/nonexistent/font.ttf").err().unwrap();
        assert!(err.to_string().contains("/nonexistent/font.ttf"), "{err}");
    }

    #[test]
    fn tiles_draw_each_source_in_its_rectangle_with_a_border_and_labels() {
        let mut c = Composer::new(1280, 720, DEFAULT_FONT).unwrap();
        let (red, blue) = ([81, 90, 240], [41, 240, 110]);
        let (a, b) = (solid(640, 360, red), solid(640, 360, blue));
        let left = Rect { x: 0, y: 0, width: 640, height: 360 };
        let right = Rect { x: 640, y: 0, width: 640, height: 360 };
        let below = Rect { x: 0, y: 360, width: 640, height: 360 };
        let green = color_for("Carol");
        let tiles = [
            Tile { rect: left, stage: Stage::Video { picture: &a, name: "Ada" }, border: None, id: None },
            Tile { rect: right, stage: Stage::Video { picture: &b, name: "Bob" }, border: Some([235, 128, 128]), id: None },
            Tile { rect: below, stage: Stage::Card { name: "Carol" }, border: None, id: None },
        ];
        let out = c.compose_tiles(&tiles).unwrap();
        assert!(at(&out, 0, 320, 100).abs_diff(81) <= 2 && at(&out, 2, 320, 100).abs_diff(240) <= 2, "Ada's colour in her tile");
        // Bob's tile ends at the frame's right edge: nothing of his scaling spills into
        // the next row's start, Ada's left edge (the planes have no padding per row).
        for x in 0..16 {
            for y in [1, 100, 200, 300] {
                assert!(at(&out, 0, x, y).abs_diff(81) <= 2, "Ada's left edge at ({x}, {y}) is {}", at(&out, 0, x, y));
            }
        }
        assert!(at(&out, 0, 960, 100).abs_diff(41) <= 2 && at(&out, 1, 960, 100).abs_diff(240) <= 2, "Bob's in his");
        assert_eq!(at(&out, 0, 642, 180), 235, "Bob's border");
        assert_eq!(at(&out, 0, 638, 180), at(&out, 0, 320, 100), "no border on Ada's side");
        assert_eq!(at(&out, 1, 100, 400), green[1], "Carol's card below");
        assert_eq!((at(&out, 0, 960, 540), at(&out, 1, 960, 540)), (16, 128), "the empty quarter is black");
        // Each tile has its name label inside it, at its own bottom left.
        assert!(bright_pixels(&out, 0, 300, 300, 360) > 50, "no label in Ada's tile");
        assert!(bright_pixels(&out, 640, 300, 940, 360) > 50, "no label in Bob's tile");
    }

    #[test]
    fn a_picture_in_picture_goes_over_a_share_which_is_scaled_only_when_it_changes() {
        let mut c = Composer::new(1280, 720, DEFAULT_FONT).unwrap();
        let (screen, cam, other_cam) = (solid(1920, 1080, [200, 128, 128]), solid(640, 360, [81, 90, 240]), solid(640, 360, [41, 240, 110]));
        let full = Rect { x: 0, y: 0, width: 1280, height: 720 };
        let pip = Rect { x: 980, y: 540, width: 282, height: 158 };
        let frame = |c: &mut Composer, screen: &frame::Video, id: u64, cam: &frame::Video| -> frame::Video {
            let tiles = [Tile { rect: full, stage: Stage::Screen { picture: screen }, border: None, id: Some(id) }, Tile { rect: pip, stage: Stage::Video { picture: cam, name: "Bob" }, border: None, id: None }];
            c.compose_tiles(&tiles).unwrap().clone()
        };
        let out = frame(&mut c, &screen, 1, &cam);
        assert_eq!(at(&out, 0, 500, 200), 200, "the share");
        assert!(at(&out, 0, 1120, 560).abs_diff(81) <= 2, "the camera in the corner");
        for y in 540..700 {
            assert_eq!(at(&out, 0, 0, y), 200, "the share's left edge at row {y}");
        }
        assert_eq!(bright_pixels(&out, 0, 600, 900, 720), 0, "a share has no label of its own");
        // The camera changes, the share does not: the share is copied back, and nothing
        // of the old camera stays under the new one.
        let out = frame(&mut c, &screen, 1, &other_cam);
        assert!(at(&out, 0, 1120, 560).abs_diff(41) <= 2, "the new camera picture");
        assert_eq!(at(&out, 0, 500, 200), 200, "the share, from the backdrop");
        // A new picture of the share (another id) is drawn, not the old backdrop.
        let out = frame(&mut c, &solid(1920, 1080, [120, 128, 128]), 2, &cam);
        assert_eq!(at(&out, 0, 500, 200), 120, "the share's new picture");
    }

    #[test]
    fn a_picture_of_the_tiles_size_is_copied_into_place() {
        let mut c = Composer::new(1280, 720, DEFAULT_FONT).unwrap();
        // Left half dark, right half light, in a frame whose rows are padded.
        let mut picture = solid(640, 360, [60, 128, 128]);
        for y in 0..360 {
            let stride = picture.stride(0);
            picture.data_mut(0)[y * stride + 320..y * stride + 640].fill(180);
        }
        let rect = Rect { x: 640, y: 360, width: 640, height: 360 };
        let out = c.compose_tiles(&[Tile { rect, stage: Stage::Video { picture: &picture, name: "" }, border: None, id: None }]).unwrap();
        assert_eq!((at(out, 0, 640, 360), at(out, 0, 959, 500), at(out, 0, 960, 500), at(out, 0, 1279, 719)), (60, 60, 180, 180), "copied pixel for pixel, in place");
        assert_eq!(at(out, 0, 639, 360), 16, "black outside the tile");
    }

    #[test]
    fn a_tile_that_comes_again_unchanged_is_left_as_it_is() {
        let mut c = Composer::new(1280, 720, DEFAULT_FONT).unwrap();
        let (red, blue) = (solid(640, 360, [81, 90, 240]), solid(640, 360, [41, 240, 110]));
        let (left, right) = (Rect { x: 0, y: 0, width: 640, height: 360 }, Rect { x: 640, y: 0, width: 640, height: 360 });
        let tile = |rect, picture, id| Tile { rect, stage: Stage::Video { picture, name: "" }, border: None, id: Some(id) };
        c.compose_tiles(&[tile(left, &red, 1), tile(right, &red, 2)]).unwrap();
        // The left tile says it shows what it showed (id 1): its pixels stay, even given
        // another picture; the right one changed (id 3) and is drawn.
        let out = c.compose_tiles(&[tile(left, &blue, 1), tile(right, &blue, 3)]).unwrap();
        assert!(at(out, 0, 320, 180).abs_diff(81) <= 2 && at(out, 0, 960, 180).abs_diff(41) <= 2, "left kept, right drawn");
        // Another layout draws everything again.
        let below = Rect { x: 0, y: 360, width: 640, height: 360 };
        let out = c.compose_tiles(&[tile(left, &blue, 1), tile(below, &red, 2)]).unwrap();
        assert!(at(out, 0, 320, 180).abs_diff(41) <= 2, "left drawn again in a new layout");
        assert_eq!(at(out, 0, 960, 180), 16, "the right tile is gone: black");
    }

    /// A colour no tile draws: the canvas is painted with it before a frame is composed,
    /// so that a pixel the frame leaves unwritten shows.
    const POISON: [u8; 3] = [77, 200, 50];

    /// Each of the three samples (Y, U, V) at each chroma position: a pixel of 4:2:0.
    fn pixels(f: &frame::Video) -> impl Iterator<Item = (u32, u32, [u8; 3])> + '_ {
        let (w, h) = (f.width(), f.height());
        (0..h).flat_map(move |y| (0..w).map(move |x| (x, y, [at(f, 0, x as usize, y as usize), at(f, 1, x as usize, y as usize), at(f, 2, x as usize, y as usize)])))
    }

    fn inside(r: &Rect, x: u32, y: u32) -> bool {
        x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height
    }

    /// `layout`'s tiles as the engine draws them: each participant's camera (or their
    /// screen) from `pictures`, the grid's speaker marked; ids from `ids`.
    fn drawn<'a>(tiles: &[layout::Tile<&'static str>], speaker: &'static str, pictures: &'a HashMap<&'static str, frame::Video>, screen: &'a frame::Video, id: impl Fn(&layout::Fill<&'static str>) -> u64) -> Vec<Tile<'a>> {
        tiles
            .iter()
            .map(|t| {
                let stage = match t.fill {
                    layout::Fill::Stage => Stage::Video { picture: &pictures[speaker], name: speaker },
                    layout::Fill::Camera(p) => Stage::Video { picture: &pictures[p], name: p },
                    layout::Fill::Screen(_) => Stage::Screen { picture: screen },
                };
                let border = (t.speaking && matches!(t.fill, layout::Fill::Camera(_))).then_some([235, 128, 128]);
                Tile { rect: t.rect, stage, border, id: Some(id(&t.fill)) }
            })
            .collect()
    }

    #[test]
    fn the_share_shows_all_around_a_picture_in_picture_of_any_camera() {
        ffmpeg::init().unwrap();
        let green = [145, 54, 34];
        let screen = solid(1920, 1080, green);
        // Cameras of 16:9 (swscale's and a doubled size), 4:3, portrait, and an aspect
        // that divides into nothing.
        let cameras = [(640, 360), (1280, 720), (640, 480), (360, 640), (502, 282)];
        for (w, h) in [(1280, 720), (1278, 718)] {
            let mut l = Layout::new(LayoutKind::Speaker, w, h);
            l.set_present(vec!["ann", "carol"]);
            l.set_speaker(0, Some("ann"));
            l.set_share(Some("carol"));
            let mut tiles = l.tiles();
            let layouts_pip = tiles[1].rect;
            assert!(layouts_pip.x + layouts_pip.width < w && layouts_pip.y + layouts_pip.height < h, "{layouts_pip:?} has a margin");
            // The share alone: what every frame shows outside the picture-in-picture.
            let share_only = Composer::new(w, h, DEFAULT_FONT).unwrap().compose_tiles(&[Tile { rect: tiles[0].rect, stage: Stage::Screen { picture: &screen }, border: None, id: None }]).unwrap().clone();
            // The layout's PiP, and the one of the recording that showed the bug (its
            // 16:9 camera scaled to 280x156, chroma 140 wide).
            let recorded = Rect { x: w - 302, y: h - 178, width: 280, height: 158 };
            for (pip, (cw, ch)) in [layouts_pip, recorded].into_iter().flat_map(|pip| cameras.map(|c| (pip, c))) {
                tiles[1].rect = pip;
                let mut c = Composer::new(w, h, DEFAULT_FONT).unwrap();
                let pictures = HashMap::from([("ann", solid(cw, ch, [81, 90, 240]))]);
                // The first frame draws the share; the next ones copy it back.
                for n in 0..3 {
                    fill(&mut c.canvas, POISON);
                    let out = c.compose_tiles(&drawn(&tiles, "ann", &pictures, &screen, |_| 1)).unwrap().clone();
                    for (x, y, px) in pixels(&out) {
                        if inside(&pip, x, y) {
                            assert_ne!(px, POISON, "{w}x{h}, a {cw}x{ch} camera, frame {n}: ({x}, {y}) in the PiP {pip:?} is never drawn");
                        } else {
                            let share = [at(&share_only, 0, x as usize, y as usize), at(&share_only, 1, x as usize, y as usize), at(&share_only, 2, x as usize, y as usize)];
                            assert_eq!(px, share, "{w}x{h}, a {cw}x{ch} camera, frame {n}: ({x}, {y}), outside the PiP {pip:?}, is not the share");
                        }
                    }
                    if cw * 9 == ch * 16 && pip == layouts_pip {
                        // A 16:9 camera fills its PiP: no bars (the label is at the left).
                        for (x, y) in [(pip.x + pip.width - 1, pip.y), (pip.x + pip.width - 1, pip.y + pip.height - 1), (pip.x + pip.width / 2, pip.y + pip.height - 1)] {
                            assert!(at(&out, 0, x as usize, y as usize).abs_diff(81) <= 2 && at(&out, 2, x as usize, y as usize).abs_diff(240) <= 2, "{w}x{h}, a {cw}x{ch} camera: ({x}, {y}) of the PiP {pip:?} is not the camera");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_layout_draws_only_inside_its_tiles_and_the_same_when_it_draws_only_changes() {
        ffmpeg::init().unwrap();
        let people = ["ann", "bob", "carol", "dan", "eve", "fay", "gus", "hal", "ida"];
        let sizes = [(640, 360), (640, 480), (502, 282), (1280, 720), (320, 180)];
        let colours = [[81, 90, 240], [41, 240, 110], [145, 54, 34], [170, 166, 16], [106, 202, 222]];
        let screen = solid(1366, 768, [120, 100, 160]);
        for (w, h) in [(1280, 720), (1278, 718)] {
            for kind in [LayoutKind::SpeakerStrip, LayoutKind::Grid] {
                for n in [2, 4, 6, 7, 9] {
                    for share in [false, true] {
                        let case = format!("{w}x{h} {kind:?}, {n} people{}", if share { ", a share" } else { "" });
                        let mut l = Layout::new(kind, w, h);
                        l.set_present(people[..n].to_vec());
                        l.set_speaker(0, Some("ann"));
                        l.set_share(share.then_some("bob"));
                        let tiles = l.tiles();
                        let mut pictures: HashMap<&'static str, frame::Video> = people.iter().enumerate().map(|(i, p)| (*p, solid(sizes[i % 5].0, sizes[i % 5].1, colours[i % 5]))).collect();
                        let key = |f: &layout::Fill<&'static str>| match f {
                            layout::Fill::Stage => 100,
                            layout::Fill::Camera(p) | layout::Fill::Screen(p) => people.iter().position(|q| q == p).unwrap() as u64 + if matches!(f, layout::Fill::Screen(_)) { 200 } else { 0 },
                        };
                        let mut c = Composer::new(w, h, DEFAULT_FONT).unwrap();
                        fill(&mut c.canvas, POISON);
                        let out = c.compose_tiles(&drawn(&tiles, "ann", &pictures, &screen, key)).unwrap().clone();
                        for (x, y, px) in pixels(&out) {
                            if tiles.iter().any(|t| inside(&t.rect, x, y)) {
                                assert_ne!(px, POISON, "{case}: ({x}, {y}) is never drawn");
                            } else {
                                assert_eq!(px, BLACK, "{case}: ({x}, {y}) is between tiles: black");
                            }
                        }
                        // One camera changes (another picture, of another size): only its
                        // tile is drawn again, and the frame is as if all were drawn anew.
                        let changed = tiles.iter().position(|t| matches!(t.fill, layout::Fill::Camera(_))).unwrap_or(tiles.len() - 1);
                        let who = match tiles[changed].fill {
                            layout::Fill::Camera(p) => p,
                            _ => "ann",
                        };
                        pictures.insert(who, solid(426, 240, [200, 128, 128]));
                        let again = |f: &layout::Fill<&'static str>| if *f == tiles[changed].fill { 300 } else { key(f) };
                        let out = c.compose_tiles(&drawn(&tiles, "ann", &pictures, &screen, again)).unwrap().clone();
                        let fresh = Composer::new(w, h, DEFAULT_FONT).unwrap().compose_tiles(&drawn(&tiles, "ann", &pictures, &screen, again)).unwrap().clone();
                        for ((x, y, a), (_, _, b)) in pixels(&out).zip(pixels(&fresh)) {
                            assert_eq!(a, b, "{case}, {who}'s camera changed: ({x}, {y}) differs from the frame drawn anew");
                        }
                    }
                }
            }
        }
    }
}
