//! A recording's picture size: the one rule for what `--recording-size` and a start's
//! `"size"` may be, in one type, so that the command line, the HTTP body and the
//! refusal's offer of a smaller size cannot disagree.
use std::fmt;
use std::str::FromStr;

/// `WIDTHxHEIGHT`: both even (YUV 4:2:0 halves them) and within [`RecordingSize::MIN`]
/// and [`RecordingSize::MAX`]. Made only through [`RecordingSize::new`], which checks
/// (parsing and halving go through it), so a value of this type is always a picture the
/// compositor can encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingSize {
    width: u32,
    height: u32,
}

/// Why a text is not a recording size. The messages name the rule, never quote the text
/// (it may come from a client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("expected WIDTHxHEIGHT, like 1280x720")]
    NotWidthByHeight,
    #[error("the width and height must be whole numbers, like 1280x720")]
    NotANumber,
    #[error("the size must be between {}x{} and {}x{}", RecordingSize::MIN.width, RecordingSize::MIN.height, RecordingSize::MAX.width, RecordingSize::MAX.height)]
    OutOfRange,
    #[error("the width and height must be even")]
    Odd,
}

impl RecordingSize {
    /// The smallest and largest picture a recording may have (what libx264 and players
    /// handle).
    pub const MIN: RecordingSize = RecordingSize { width: 160, height: 90 };
    pub const MAX: RecordingSize = RecordingSize { width: 3840, height: 2160 };

    pub fn new(width: u32, height: u32) -> Result<Self, SizeError> {
        if !(Self::MIN.width..=Self::MAX.width).contains(&width) || !(Self::MIN.height..=Self::MAX.height).contains(&height) {
            return Err(SizeError::OutOfRange);
        }
        if width % 2 != 0 || height % 2 != 0 {
            return Err(SizeError::Odd);
        }
        Ok(RecordingSize { width, height })
    }

    pub fn width(self) -> u32 {
        self.width
    }

    pub fn height(self) -> u32 {
        self.height
    }

    /// Whether this picture is no larger than `width` x `height` in either dimension: a
    /// client may only ask for a recording cheaper than the operator's.
    pub fn fits_within(self, width: u32, height: u32) -> bool {
        self.width <= width && self.height <= height
    }

    /// Half the width and height (even, a quarter of the pixels), if that is still a
    /// picture a recording may have: the size a refusal at capacity offers. x264's
    /// share shrinks with the pixels, the cameras' decoding does not, so admission's
    /// table prices 640x360 at about 0.64 of 1280x720 at the default preset.
    pub fn half(self) -> Option<RecordingSize> {
        RecordingSize::new((self.width / 2) & !1, (self.height / 2) & !1).ok()
    }
}

impl FromStr for RecordingSize {
    type Err = SizeError;

    fn from_str(value: &str) -> Result<Self, SizeError> {
        let (w, h) = value.split_once(['x', 'X']).ok_or(SizeError::NotWidthByHeight)?;
        let number = |s: &str| s.trim().parse::<u32>().map_err(|_| SizeError::NotANumber);
        RecordingSize::new(number(w)?, number(h)?)
    }
}

impl fmt::Display for RecordingSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_within_the_bounds_and_print_back() {
        let size: RecordingSize = "1280x720".parse().unwrap();
        assert_eq!((size.width(), size.height(), size.to_string()), (1280, 720, "1280x720".to_string()));
        assert_eq!("640X360".parse::<RecordingSize>().map(|s| s.to_string()), Ok("640x360".into()));
        assert_eq!(" 160 x 90 ".parse::<RecordingSize>().map(|s| s.to_string()), Ok("160x90".into()), "spaces around the numbers");
        assert_eq!("3840x2160".parse::<RecordingSize>(), Ok(RecordingSize::MAX));
    }

    #[test]
    fn each_bad_size_says_which_rule_it_breaks() {
        for (bad, why) in [
            ("1280", SizeError::NotWidthByHeight),
            ("", SizeError::NotWidthByHeight),
            ("axb", SizeError::NotANumber),
            ("-2x90", SizeError::NotANumber),
            ("1280x720.5", SizeError::NotANumber),
            ("99999999999x2", SizeError::NotANumber),
            ("1281x720", SizeError::Odd),
            ("100x50", SizeError::OutOfRange),
            ("8000x4000", SizeError::OutOfRange),
            ("3842x2160", SizeError::OutOfRange),
        ] {
            assert_eq!(bad.parse::<RecordingSize>(), Err(why), "{bad:?}");
        }
        assert!(!SizeError::NotANumber.to_string().contains("axb"), "a client's text is not quoted back");
    }

    #[test]
    fn a_size_fits_within_another_in_both_dimensions() {
        let size = |s: &str| s.parse::<RecordingSize>().unwrap();
        assert!(size("640x360").fits_within(1280, 720));
        assert!(size("1280x720").fits_within(1280, 720));
        assert!(!size("1920x1080").fits_within(1280, 720));
        assert!(!size("1282x360").fits_within(1280, 720), "wider, though fewer pixels");
        assert!(!size("640x722").fits_within(1280, 720), "taller");
    }

    #[test]
    fn half_a_size_stays_even_and_within_the_bounds() {
        let half = |s: &str| s.parse::<RecordingSize>().unwrap().half().map(|h| h.to_string());
        assert_eq!(half("1280x720"), Some("640x360".into()));
        assert_eq!(half("1278x718"), Some("638x358".into()), "639x359 would be odd");
        assert_eq!(half("320x180"), Some("160x90".into()));
        assert_eq!(half("318x178"), None, "158x88 is below the smallest");
    }
}
