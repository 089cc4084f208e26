//! Composes the output picture: the speaker's video scaled to fit a constant canvas
//! (black bars where the aspect differs) with their name on a label, a name card with
//! initials for a speaker without video, and a waiting card before anyone spoke.
//! Everything is drawn straight into YUV420P planes; text is rasterized with fontdue.
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

pub enum Stage<'a> {
    Video { picture: &'a frame::Video, name: &'a str },
    Card { name: &'a str },
    Waiting { title: &'a str },
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("cannot load the label font: {0}")]
    Font(String),
    #[error("cannot scale the video: {0}")]
    Scale(ffmpeg::Error),
}

pub struct Composer {
    width: u32,
    height: u32,
    font: fontdue::Font,
    /// Rasterized glyphs by (character, size): labels repeat every frame.
    glyphs: RefCell<HashMap<(char, u32), (fontdue::Metrics, Vec<u8>)>>,
    /// The scaler for the last source size and format, rebuilt when they change.
    scaler: Option<((Pixel, u32, u32), scaling::Context)>,
    /// The output picture, drawn anew for each frame in the same memory (a 720p frame
    /// allocated per frame costs page faults, thirty times a second).
    canvas: frame::Video,
}

impl Composer {
    pub fn new(width: u32, height: u32, font_path: &str) -> Result<Self, ComposeError> {
        let bytes = std::fs::read(font_path).map_err(|e| ComposeError::Font(format!("{font_path}: {e}")))?;
        let font = fontdue::Font::from_bytes(bytes, fontdue::FontSettings::default()).map_err(|e| ComposeError::Font(e.to_string()))?;
        let (width, height) = (width & !1, height & !1);
        let canvas = frame::Video::new(Pixel::YUV420P, width, height);
        Ok(Self { width, height, font, glyphs: RefCell::new(HashMap::new()), scaler: None, canvas })
    }

    /// Draws the next output picture and lends it (to be encoded, then drawn over).
    pub fn compose(&mut self, stage: Stage<'_>) -> Result<&mut frame::Video, ComposeError> {
        // The encoder has let go of the last frame; if it had not, this copies it first.
        // SAFETY: the frame is allocated and owned by us.
        if unsafe { ffmpeg::ffi::av_frame_make_writable(self.canvas.as_mut_ptr()) } < 0 {
            self.canvas = frame::Video::new(Pixel::YUV420P, self.width, self.height);
        }
        let mut canvas = std::mem::replace(&mut self.canvas, frame::Video::empty());
        let drawn = self.draw(&mut canvas, stage);
        self.canvas = canvas;
        drawn?;
        Ok(&mut self.canvas)
    }

    /// The picture last composed (to encode it again when nothing changed).
    pub fn last(&mut self) -> &mut frame::Video {
        &mut self.canvas
    }

    fn draw(&mut self, canvas: &mut frame::Video, stage: Stage<'_>) -> Result<(), ComposeError> {
        match stage {
            Stage::Video { picture, name } => {
                fill(canvas, BLACK);
                self.place(picture, canvas)?;
                self.label(canvas, name);
            }
            Stage::Card { name } => {
                fill(canvas, color_for(name));
                let px = self.height as f32 / 4.0;
                let text = initials(name);
                let w = self.text_width(&text, px);
                let x = (self.width as f32 - w) / 2.0;
                self.draw_text(canvas, &text, x, self.height as f32 / 2.0 + px * 0.35, px);
                self.label(canvas, name);
            }
            Stage::Waiting { title } => {
                fill(canvas, [24, 128, 128]);
                let px = self.height as f32 / 18.0;
                let w = self.text_width(title, px);
                self.draw_text(canvas, title, (self.width as f32 - w) / 2.0, self.height as f32 / 2.0, px);
            }
        }
        Ok(())
    }

    /// Scales `picture` to fit the canvas, keeping its aspect, centred.
    fn place(&mut self, picture: &frame::Video, canvas: &mut frame::Video) -> Result<(), ComposeError> {
        let (sw, sh) = (picture.width(), picture.height());
        if sw == 0 || sh == 0 {
            return Ok(());
        }
        let scale = f64::min(self.width as f64 / sw as f64, self.height as f64 / sh as f64);
        let (dw, dh) = (((sw as f64 * scale) as u32).max(2) & !1, ((sh as f64 * scale) as u32).max(2) & !1);
        let key = (picture.format(), sw, sh);
        if self.scaler.as_ref().map(|(k, _)| *k) != Some(key) || self.scaler.as_ref().is_some_and(|(_, s)| s.output().width != dw || s.output().height != dh) {
            let ctx = scaling::Context::get(picture.format(), sw, sh, Pixel::YUV420P, dw, dh, scaling::Flags::BILINEAR).map_err(ComposeError::Scale)?;
            self.scaler = Some((key, ctx));
        }
        // Scaled straight into its place on the canvas: no picture in between.
        let (ox, oy) = (((self.width - dw) / 2) & !1, ((self.height - dh) / 2) & !1);
        let scaler = &mut self.scaler.as_mut().expect("just set").1;
        // SAFETY: the destination pointers are offsets inside the canvas's planes,
        // within bounds: the scaled picture (dw x dh, even) fits the canvas at (ox, oy),
        // and the chroma planes are half size. The source is a decoded frame of the
        // size and format the scaler was made for.
        let result = unsafe {
            let src = picture.as_ptr();
            let dst = canvas.as_mut_ptr();
            let mut planes = [std::ptr::null_mut::<u8>(); 4];
            let mut strides = [0i32; 4];
            for plane in 0..3 {
                let div = if plane == 0 { 1 } else { 2 };
                let stride = (*dst).linesize[plane];
                let offset = (oy / div) as isize * stride as isize + (ox / div) as isize;
                planes[plane] = (*dst).data[plane].offset(offset);
                strides[plane] = stride;
            }
            ffmpeg::ffi::sws_scale(scaler.as_mut_ptr(), (*src).data.as_ptr() as *const *const u8, (*src).linesize.as_ptr(), 0, sh as i32, planes.as_ptr(), strides.as_ptr())
        };
        if result < 0 {
            return Err(ComposeError::Scale(ffmpeg::Error::from(result)));
        }
        Ok(())
    }

    /// The name on a dark box at the bottom left.
    fn label(&self, canvas: &mut frame::Video, name: &str) {
        let px = self.height as f32 / 24.0;
        let pad = px * 0.5;
        let w = self.text_width(name, px);
        let (x0, y1) = (self.height as f32 / 30.0, self.height as f32 - self.height as f32 / 30.0);
        let (bx0, by0, bx1, by1) = (x0, y1 - px - 2.0 * pad, x0 + w + 2.0 * pad, y1);
        darken(canvas, bx0 as usize, by0 as usize, (bx1 as usize).min(self.width as usize), by1 as usize);
        self.draw_text(canvas, name, x0 + pad, y1 - pad - px * 0.2, px);
    }

    fn text_width(&self, text: &str, px: f32) -> f32 {
        text.chars().map(|c| self.font.metrics(c, px).advance_width).sum()
    }

    /// White text with its baseline at `baseline`, blended by glyph coverage (luma to
    /// white, and the half-resolution chroma towards neutral, so that text on a
    /// coloured card is white, not tinted).
    fn draw_text(&self, canvas: &mut frame::Video, text: &str, x: f32, baseline: f32, px: f32) {
        let (width, height) = (self.width as i64, self.height as i64);
        let strides = [canvas.stride(0), canvas.stride(1), canvas.stride(2)];
        let mut pen = x;
        let mut glyphs = self.glyphs.borrow_mut();
        for c in text.chars() {
            let (m, bitmap) = glyphs.entry((c, px.to_bits())).or_insert_with(|| self.font.rasterize(c, px));
            let m = *m;
            let top = baseline as i64 - m.height as i64 - m.ymin as i64;
            let left = pen as i64 + m.xmin as i64;
            for gy in 0..m.height as i64 {
                for gx in 0..m.width as i64 {
                    let (cx, cy) = (left + gx, top + gy);
                    if cx < 0 || cy < 0 || cx >= width || cy >= height {
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

fn fill(canvas: &mut frame::Video, yuv: [u8; 3]) {
    for (plane, value) in yuv.iter().enumerate() {
        canvas.data_mut(plane).fill(*value);
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
pub fn color_for(name: &str) -> [u8; 3] {
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
}
