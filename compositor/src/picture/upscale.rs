//! Doubling a picture's size, the scaling a recording does most: a 640x360 camera (a
//! browser's middle simulcast layer, or a camera that sends no more) on a 1280x720
//! stage, for every frame the camera sends. swscale's generic bilinear path took 8.7 %
//! of the default recording's CPU for it (`perf`, docs/benchmarks.md). This is the same
//! filter, bilinear with the pictures' centres aligned (each output pixel 9:3:3:1 of
//! its four nearest source pixels, the edges repeated; within 1 of swscale's output),
//! written so that the compiler vectorizes it (with AVX2 where the CPU has it): 78 µs
//! a 640x360 picture (115 µs without AVX2) against swscale's 287 µs on the project's
//! machine.

/// Writes `src` (`width` x `height` bytes, rows `src_stride` apart) at twice its size
/// into `dst` (rows `dst_stride` apart, from its start). `dst` must hold 2 x `height`
/// rows of 2 x `width` bytes.
pub fn double_plane(src: &[u8], src_stride: usize, width: usize, height: usize, dst: &mut [u8], dst_stride: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: this CPU has AVX2.
        return unsafe { double_plane_avx2(src, src_stride, width, height, dst, dst_stride) };
    }
    double_plane_with(src, src_stride, width, height, dst, dst_stride);
}

/// The same, compiled for AVX2 (twice the lanes of the x86-64 baseline's SSE2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn double_plane_avx2(src: &[u8], src_stride: usize, width: usize, height: usize, dst: &mut [u8], dst_stride: usize) {
    double_plane_with(src, src_stride, width, height, dst, dst_stride);
}

#[inline(always)]
fn double_plane_with(src: &[u8], src_stride: usize, width: usize, height: usize, dst: &mut [u8], dst_stride: usize) {
    if width == 0 || height == 0 {
        return;
    }
    let row = |y: usize| &src[y * src_stride..y * src_stride + width];
    // One output row's vertical blend, 4x the source's scale.
    let mut blend = vec![0u16; width];
    for y in 0..height {
        let here = row(y);
        // Output row 2y lies a quarter of a row above source row y's centre, 2y + 1 a
        // quarter below.
        for (half, other) in [(0, row(y.saturating_sub(1))), (1, row((y + 1).min(height - 1)))] {
            for ((b, &h), &o) in blend.iter_mut().zip(here).zip(other) {
                *b = 3 * u16::from(h) + u16::from(o);
            }
            let start = (2 * y + half) * dst_stride;
            widen(&blend, &mut dst[start..start + 2 * width]);
        }
    }
}

/// One output row from its vertical blend: pixel 2x a quarter left of source pixel x's
/// centre, 2x + 1 a quarter right; rounded.
#[inline(always)]
fn widen(blend: &[u16], out: &mut [u8]) {
    let w = blend.len();
    let px = |v: u16| ((v + 8) >> 4) as u8;
    out[0] = px(4 * blend[0]);
    out[2 * w - 1] = px(4 * blend[w - 1]);
    if w == 1 {
        return;
    }
    out[1] = px(3 * blend[0] + blend[1]);
    out[2 * w - 2] = px(3 * blend[w - 1] + blend[w - 2]);
    // The inside, where both neighbours exist: three shifted views, which vectorize.
    let (left, mid, right) = (&blend[..w - 2], &blend[1..w - 1], &blend[2..]);
    for (((pair, &l), &m), &r) in out[2..2 * w - 2].chunks_exact_mut(2).zip(left).zip(mid).zip(right) {
        let m3 = 3 * m;
        pair[0] = px(m3 + l);
        pair[1] = px(m3 + r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doubled(src: &[u8], w: usize, h: usize) -> Vec<u8> {
        let mut dst = vec![0u8; 4 * w * h];
        double_plane(src, w, w, h, &mut dst, 2 * w);
        dst
    }

    #[test]
    fn a_flat_picture_stays_flat_and_the_output_is_filled_to_its_edges() {
        for (w, h) in [(1, 1), (2, 1), (3, 2), (17, 9)] {
            assert!(doubled(&vec![77u8; w * h], w, h).iter().all(|&v| v == 77), "{w}x{h}");
        }
    }

    #[test]
    fn each_output_pixel_weighs_its_four_nearest_9_3_3_1() {
        // A single bright pixel in the middle of a 3x3 picture.
        let mut src = [0u8; 9];
        src[4] = 160;
        let out = doubled(&src, 3, 3);
        let at = |x: usize, y: usize| out[y * 6 + x];
        // Its own four output pixels: 9/16 of it.
        for (x, y) in [(2, 2), (3, 2), (2, 3), (3, 3)] {
            assert_eq!(at(x, y), 90, "({x}, {y})");
        }
        // Beside them: 3/16; diagonal: 1/16; further: nothing.
        assert_eq!((at(1, 2), at(4, 3), at(2, 1), at(3, 4)), (30, 30, 30, 30));
        assert_eq!((at(1, 1), at(4, 4)), (10, 10));
        assert_eq!((at(0, 0), at(5, 5), at(0, 2), at(2, 0)), (0, 0, 0, 0));
    }

    #[test]
    fn it_writes_inside_strides_and_leaves_the_rest_of_the_canvas() {
        // A 2x2 picture in a row of 5, doubled into a canvas of rows of 7.
        let src = [10u8, 20, 99, 99, 99, 30, 40, 99, 99, 99];
        let mut dst = vec![255u8; 7 * 4];
        double_plane(&src, 5, 2, 2, &mut dst, 7);
        for y in 0..4 {
            assert!(dst[y * 7 + 4..y * 7 + 7].iter().all(|&v| v == 255), "row {y} written past its picture");
            assert!(dst[y * 7..y * 7 + 4].iter().all(|&v| (10..=40).contains(&v)), "row {y}: {:?}", &dst[y * 7..y * 7 + 4]);
        }
        // The edges repeat: an output corner is its source corner, and the pixel beside
        // it 3:1 of the top row (12.5, rounded up).
        assert_eq!((dst[0], dst[3 * 7 + 3], dst[1]), (10, 40, 13));
    }
}
