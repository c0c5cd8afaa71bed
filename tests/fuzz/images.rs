//! Bad images for the loader (decode, crop, resize; strict, truncated files rejected): cut-short
//! and empty files, wrong headers, decompression bombs (sizes above `MAX_DECODE_SIDE` or
//! `MAX_DECODE_BYTES`), 16-bit and CMYK images. PNGs with any header are built by hand (chunks
//! with their CRC); JPEGs by a minimal baseline encoder of flat grey 8×8 blocks.

use super::{folder, run_mutations, run_table, Case};
use heft::data::{Dataset, Loader, LoaderCfg, Normalize, Sample};
use image::{ImageBuffer, ImageFormat, Luma, Rgb};
use std::io::Cursor;
use std::path::Path;

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// A PNG of the given IHDR fields, the start of a zlib stream as its pixel data and a valid IEND.
fn png_header(w: u32, h: u32, depth: u8, colour: u8) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let body = [kind, data].concat();
        [&(data.len() as u32).to_be_bytes()[..], &body, &crc32(&body).to_be_bytes()].concat()
    };
    let ihdr = [&w.to_be_bytes()[..], &h.to_be_bytes(), &[depth, colour, 0, 0, 0]].concat();
    [&b"\x89PNG\r\n\x1a\n"[..], &chunk(b"IHDR", &ihdr), &chunk(b"IDAT", &[0x78, 0x9C]), &chunk(b"IEND", b"")].concat()
}

/// A baseline JPEG of `components` (1 grey, 4 CMYK with Adobe's APP14 marker) declaring w×h;
/// its scan holds one flat 8×8 block per component (enough for an 8×8 image).
fn jpeg(w: u16, h: u16, components: u8) -> Vec<u8> {
    let seg = |marker: u8, body: &[u8]| [&[0xFF, marker][..], &((body.len() + 2) as u16).to_be_bytes(), body].concat();
    let ids: Vec<u8> = (1..=components).collect();
    let mut sof = [&[8u8][..], &h.to_be_bytes(), &w.to_be_bytes(), &[components]].concat();
    ids.iter().for_each(|&i| sof.extend([i, 0x11, 0]));
    let mut sos = vec![components];
    ids.iter().for_each(|&i| sos.extend([i, 0x00]));
    sos.extend([0, 63, 0]);
    // one Huffman code "0" per table: DC difference category 0, AC end-of-block
    let table = |class: u8| [&[class, 1][..], &[0; 15], &[0]].concat();
    let bits = 2 * components as u32; // "00" per block, padded with ones
    let scan: Vec<u8> = vec![0u8; (bits / 8) as usize].into_iter().chain((!bits.is_multiple_of(8)).then(|| 0xFF >> (bits % 8))).collect();
    let mut out = vec![0xFF, 0xD8];
    if components == 4 {
        out.extend(seg(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x00"));
    }
    for part in [seg(0xDB, &[&[0u8][..], &[1; 64]].concat()), seg(0xC0, &sof), seg(0xC4, &table(0x00)), seg(0xC4, &table(0x10)), seg(0xDA, &sos)] {
        out.extend(part);
    }
    out.extend(scan);
    out.extend([0xFF, 0xD9]);
    out
}

fn encode<P: image::PixelWithColorType>(img: ImageBuffer<P, Vec<P::Subpixel>>, format: ImageFormat) -> Vec<u8>
where
    [P::Subpixel]: image::EncodableLayout,
{
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn valid_png() -> Vec<u8> {
    encode(ImageBuffer::from_fn(16, 12, |x, y| Luma([(x * 16 + y) as u8])), ImageFormat::Png)
}

fn valid_jpeg() -> Vec<u8> {
    encode(ImageBuffer::from_fn(16, 16, |x, y| Rgb([(x * 16) as u8, (y * 16) as u8, 99])), ImageFormat::Jpeg)
}

/// The cases, by file (the valid file of the group is `valid_png`).
pub const CASES: &[Case] = &[
    Case { name: "zero-byte file", file: "x.png", bytes: |_| vec![], error: Some("cannot decode the image") },
    Case { name: "text with a .png name", file: "x.png", bytes: |_| b"not an image\n".to_vec(), error: Some("cannot decode the image") },
    Case { name: "PNG cut after its signature", file: "x.png", bytes: |v| v[..8].to_vec(), error: Some("the PNG ends before its IEND chunk (truncated file)") },
    Case { name: "PNG cut in half", file: "x.png", bytes: |v| v[..v.len() / 2].to_vec(), error: Some("the PNG ends before its IEND chunk (truncated file)") },
    Case { name: "JPEG cut in half", file: "x.jpg", bytes: |_| valid_jpeg()[..valid_jpeg().len() / 2].to_vec(), error: Some("the JPEG ends before its end-of-image marker") },
    Case { name: "PNG signature, GIF body", file: "x.png", bytes: |_| [&b"\x89PNG\r\n\x1a\n"[..], b"GIF89a\x01\x00\x01\x00"].concat(), error: Some("truncated file") },
    Case { name: "GIF body with a .png name", file: "x.png", bytes: |_| b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(), error: Some("cannot decode the image") },
    Case { name: "PNG with a bad IHDR checksum", file: "x.png", bytes: |v| { let mut b = v.to_vec(); b[20] ^= 0x40; b }, error: Some("cannot decode the image") },
    Case { name: "PNG declaring 0x0 pixels", file: "x.png", bytes: |_| png_header(0, 0, 8, 0), error: Some("cannot decode the image") },
    Case { name: "PNG declaring 100000x100000 (bomb)", file: "x.png", bytes: |_| png_header(100_000, 100_000, 8, 0), error: Some("larger than heft decodes") },
    Case { name: "PNG declaring 20000x1 (over 16384 a side)", file: "x.png", bytes: |_| png_header(20_000, 1, 8, 0), error: Some("larger than heft decodes") },
    Case { name: "PNG declaring 16384x16384 RGBA 16-bit (2 GiB)", file: "x.png", bytes: |_| png_header(16384, 16384, 16, 6), error: Some("larger than heft decodes") },
    Case { name: "JPEG declaring 16000x16000 CMYK (1 GiB)", file: "x.jpg", bytes: |_| jpeg(16000, 16000, 4), error: Some("larger than heft decodes") },
    Case { name: "JPEG declaring 65535x65535 (bomb)", file: "x.jpg", bytes: |_| jpeg(65535, 65535, 1), error: Some("larger than heft decodes") },
    Case { name: "JPEG declaring 0x8 pixels", file: "x.jpg", bytes: |_| jpeg(0, 8, 1), error: Some("cannot decode the image") },
    Case { name: "8x8 grey JPEG (control)", file: "x.jpg", bytes: |_| jpeg(8, 8, 1), error: None },
    Case { name: "8x8 CMYK JPEG (Adobe APP14)", file: "x.jpg", bytes: |_| jpeg(8, 8, 4), error: None },
    Case {
        name: "16-bit grey PNG",
        file: "x.png",
        bytes: |_| encode(ImageBuffer::from_fn(9, 7, |x, y| Luma([(x * 7000 + y) as u16])), ImageFormat::Png),
        error: None,
    },
    Case {
        name: "16-bit RGB PNG",
        file: "x.png",
        bytes: |_| encode(ImageBuffer::from_fn(9, 7, |x, _| Rgb([(x * 7000) as u16, 65535, 0])), ImageFormat::Png),
        error: None,
    },
];

/// The loader, strict and refusing truncated files, on the one image at `path`.
fn read(path: &Path) -> heft::Result<()> {
    let ds = Dataset { classes: vec!["a".into()], samples: vec![Sample { path: path.to_path_buf(), label: 0, crop: None }] };
    let cfg = LoaderCfg { strict: true, reject_truncated: true, ..LoaderCfg::inference(8, 3, 1, Normalize::default()) };
    match Loader::new(&ds, cfg, 0).next() {
        Some(Ok(b)) => {
            assert!(b.x.iter().all(|v| v.is_finite()), "{}: non-finite pixels", path.display());
            Ok(())
        }
        Some(Err(e)) => Err(e),
        None => panic!("{}: the loader ended with neither a batch nor an error", path.display()),
    }
}

#[test]
fn bad_images_give_errors_naming_the_file() {
    let dir = folder("image");
    run_table("image", &dir, &valid_png(), CASES, &read);
    run_mutations("image png", &dir, "m.png", &valid_png(), &read);
    run_mutations("image jpeg", &dir, "m.jpg", &valid_jpeg(), &read);
    std::fs::remove_dir_all(&dir).unwrap();
}
