//! Decoding and preprocessing of one image into a CHW f32 array: decode (PNG/JPEG, 8 or 16 bit),
//! cut the sample's crop box, (train time: cut a random resized-crop window), resize to a square
//! with a bilinear (triangle) filter, convert to 1 (luma) or 3 (RGB) channels, scale to [0, 1],
//! (train time: flips, rotation, brightness, contrast — see `augment`), then normalise.

use super::augment::Augment;
use crate::rng::Rng;
use super::Sample;
use crate::error::{Error, Result};
use ::image::{imageops::FilterType, DynamicImage, ImageReader};
use std::path::Path;

const MAX_SIZE: usize = 16384;

/// Per-channel normalisation `(x - mean) / std` of pixels already scaled to [0, 1]; the same
/// for every channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalize {
    pub mean: f32,
    pub std: f32,
}

impl Default for Normalize {
    fn default() -> Self {
        Normalize { mean: 0.5, std: 0.25 }
    }
}

/// Checks the arguments shared by every image of a batch.
pub(crate) fn check_args(size: usize, channels: usize, norm: Normalize) -> Result<()> {
    if !(1..=MAX_SIZE).contains(&size) {
        return Err(Error::Invalid(format!("image size {size} is not usable; use 1 to {MAX_SIZE}, e.g. 64, 112 or 224")));
    }
    if channels != 1 && channels != 3 {
        return Err(Error::Invalid(format!("{channels} image channels are not supported; use 1 (gray) or 3 (RGB)")));
    }
    if !(norm.std.is_finite() && norm.std > 0.0 && norm.mean.is_finite()) {
        return Err(Error::Invalid(format!(
            "normalisation mean {} std {} is not usable; std must be a positive number",
            norm.mean, norm.std
        )));
    }
    Ok(())
}

/// Decode, crop, resize to `size`×`size`, convert to `channels` (1 = luma, 3 = RGB; gray input
/// is replicated), scale to [0, 1] and normalise. Returns `channels * size * size` values, CHW.
pub fn load(sample: &Sample, size: usize, channels: usize, norm: Normalize) -> Result<Vec<f32>> {
    prepare(sample, size, channels, norm, None)
}

/// `load` with train-time augmentation drawn from `seed`: a random resized crop of the
/// (box-cropped) image before resizing, then `Augment::apply` on the [0, 1] pixels before
/// normalisation. The same seed gives the same image.
pub fn load_augmented(
    sample: &Sample,
    size: usize,
    channels: usize,
    norm: Normalize,
    aug: &Augment,
    seed: u64,
) -> Result<Vec<f32>> {
    prepare(sample, size, channels, norm, Some((aug, seed)))
}

fn prepare(
    sample: &Sample,
    size: usize,
    channels: usize,
    norm: Normalize,
    aug: Option<(&Augment, u64)>,
) -> Result<Vec<f32>> {
    check_args(size, channels, norm)?;
    let img = decode(&sample.path)?;
    let (mut x, mut y, mut w, mut h) = crop_rect(sample, img.width(), img.height())?;
    let mut aug = aug.map(|(a, seed)| (a, Rng::new(seed)));
    if let Some((a, rng)) = aug.as_mut() {
        let (dx, dy, cw, ch) = a.crop_window(w, h, rng);
        (x, y, w, h) = (x + dx, y + dy, cw, ch);
    }
    let img = img.crop_imm(x, y, w, h).resize_exact(size as u32, size as u32, FilterType::Triangle);
    let mut px = to_chw(&img, channels);
    if let Some((a, rng)) = aug.as_mut() {
        a.apply(&mut px, channels, size, rng);
    }
    let inv = 1.0 / norm.std;
    px.iter_mut().for_each(|v| *v = (*v - norm.mean) * inv);
    Ok(px)
}

/// The largest image side heft decodes, in pixels: a file declaring more is refused before any
/// pixel is decoded (a decompression bomb declares a huge size in a few bytes).
pub const MAX_DECODE_SIDE: u32 = 16384;
/// The most memory, in bytes, the decoder may allocate for one image (image 0.25's `max_alloc`).
pub const MAX_DECODE_BYTES: u64 = 512 << 20;

/// Decodes a PNG or JPEG, recognised by its content (not its extension), within the limits above.
fn decode(path: &Path) -> Result<DynamicImage> {
    let io = |err| Error::Io { path: path.display().to_string(), err };
    let mut reader = ImageReader::open(path).map_err(io)?.with_guessed_format().map_err(io)?;
    let mut limits = ::image::Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        ::image::ImageError::Limits(_) => Error::Invalid(format!(
            "{}: the image is larger than heft decodes ({MAX_DECODE_SIDE} px a side, {} MiB); downscale or remove the file",
            path.display(),
            MAX_DECODE_BYTES >> 20
        )),
        // on one line: some decoder messages end in a newline
        e => Error::Invalid(format!(
            "{}: cannot decode the image ({}); replace or remove the file",
            path.display(),
            e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
        )),
    })
}

/// Why the image file at `path` looks cut short, if it does: a JPEG that does not end with
/// the end-of-image marker (0xFFD9; trailing zero padding allowed) or a PNG that does not end
/// with its IEND chunk. Decoders fill the missing part of such files in silently. Files that
/// cannot be read, or are neither PNG nor JPEG, give None (decoding reports them).
pub fn truncation(path: &Path) -> Option<&'static str> {
    use std::io::{Read, Seek, SeekFrom};
    const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    const PNG_END: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];
    let mut f = std::fs::File::open(path).ok()?;
    let mut head = [0u8; 8];
    f.read_exact(&mut head).ok()?;
    let len = f.seek(SeekFrom::End(0)).ok()?;
    let mut tail = vec![0u8; len.min(64) as usize];
    f.seek(SeekFrom::End(-(tail.len() as i64))).ok()?;
    f.read_exact(&mut tail).ok()?;
    if head[..2] == [0xFF, 0xD8] {
        let end = tail.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        (!tail[..end].ends_with(&[0xFF, 0xD9])).then_some("the JPEG ends before its end-of-image marker (truncated file)")
    } else if head == PNG_MAGIC {
        (!tail.ends_with(&PNG_END)).then_some("the PNG ends before its IEND chunk (truncated file)")
    } else {
        None
    }
}

/// The sample's crop box clipped to the image, as (x, y, width, height); the whole image when
/// there is no box.
fn crop_rect(sample: &Sample, w: u32, h: u32) -> Result<(u32, u32, u32, u32)> {
    if w == 0 || h == 0 {
        return Err(Error::Invalid(format!("{}: the image is empty (0 pixels); replace or remove the file", sample.path.display())));
    }
    let Some(b) = sample.crop else {
        return Ok((0, 0, w, h));
    };
    let (x0, y0, x1, y1) = (b[0], b[1], b[2].min(w), b[3].min(h));
    if x0 >= x1 || y0 >= y1 {
        return Err(Error::Invalid(format!(
            "{}: crop box {b:?} (xmin, ymin, xmax, ymax) lies outside the {w}x{h} image; fix the box in the label file",
            sample.path.display()
        )));
    }
    Ok((x0, y0, x1 - x0, y1 - y0))
}

/// Pixels scaled to [0, 1] (8- and 16-bit alike) in CHW order.
fn to_chw(img: &DynamicImage, channels: usize) -> Vec<f32> {
    if channels == 1 {
        return img.to_luma32f().into_raw();
    }
    let rgb = img.to_rgb32f().into_raw();
    let hw = rgb.len() / 3;
    let mut out = vec![0.0; rgb.len()];
    for (i, p) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * hw + i] = p[c];
        }
    }
    out
}
