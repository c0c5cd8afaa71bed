//! Bad COVIDx label files: CXR (`train_split.txt`: `patient_id filename label source`, classes
//! negative/positive) and CT-2A (`train_COVIDx_CT-2A.txt`: `filename class xmin ymin xmax ymax`)
//! with missing fields, bad boxes, unknown classes, CRLF line ends and bytes that are not UTF-8.

use super::{folder, run_mutations, run_table, Case};
use heft::data::Dataset;
use std::path::Path;

const CXR: &str = "train_split.txt";
const CT: &str = "train_COVIDx_CT-2A.txt";
const VALID_CXR: &str = "# patient file label source\np1 a.png negative cohen\np2 b b.png positive sirm\n";
const VALID_CT: &[u8] = b"a.png 0 1 2 10 12\nb b.png 2 0 0 4 4\n";

fn text(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

pub const CASES: &[Case] = &[
    Case { name: "CXR: valid (control)", file: CXR, bytes: |v| v.to_vec(), error: None },
    Case { name: "CXR: CRLF line ends", file: CXR, bytes: |v| String::from_utf8_lossy(v).replace('\n', "\r\n").into_bytes(), error: None },
    Case { name: "CXR: empty file", file: CXR, bytes: |_| vec![], error: Some("lists no images") },
    Case { name: "CXR: comments only", file: CXR, bytes: |_| text("# nothing\n\n"), error: Some("lists no images") },
    Case { name: "CXR: missing fields", file: CXR, bytes: |_| text("p1 a.png\n"), error: Some(":1: expected `patient_id filename label source`") },
    Case { name: "CXR: unknown class", file: CXR, bytes: |_| text("p1 a.png covid cohen\n"), error: Some(":1: label `covid` is not one of the classes") },
    Case { name: "CXR: image not in the folder", file: CXR, bytes: |_| text("p1 nope.png negative cohen\n"), error: Some(":1: image") },
    Case { name: "CXR: NUL byte in a file name", file: CXR, bytes: |_| text("p1 a\0.png negative cohen\n"), error: Some("does not exist") },
    Case { name: "CXR: Latin-1 byte (not UTF-8)", file: CXR, bytes: |_| b"p1 a.png negative cohen\np2 b\xe9.png positive x\n".to_vec(), error: Some(":2: the label file is not UTF-8 text") },
    Case { name: "CT: valid (control)", file: CT, bytes: |_| VALID_CT.to_vec(), error: None },
    Case { name: "CT: CRLF line ends", file: CT, bytes: |_| String::from_utf8_lossy(VALID_CT).replace('\n', "\r\n").into_bytes(), error: None },
    Case { name: "CT: missing fields", file: CT, bytes: |_| text("a.png 0 1 2 3\n"), error: Some(":1: too few fields") },
    Case { name: "CT: negative box corner", file: CT, bytes: |_| text("a.png 0 -1 2 10 12\n"), error: Some("must be non-negative integers") },
    Case { name: "CT: box corner beyond u32", file: CT, bytes: |_| text("a.png 0 1 2 99999999999 12\n"), error: Some("must be non-negative integers") },
    Case { name: "CT: empty box", file: CT, bytes: |_| text("a.png 0 10 2 10 12\n"), error: Some("empty box") },
    Case { name: "CT: class out of range", file: CT, bytes: |_| text("a.png 7 1 2 10 12\n"), error: Some("class index 7 is out of range") },
    Case { name: "CT: class not a number", file: CT, bytes: |_| text("a.png covid 1 2 10 12\n"), error: Some("must be non-negative integers") },
    Case { name: "CT: UTF-16 file", file: CT, bytes: |_| b"\xff\xfea\x00.\x00p\x00".to_vec(), error: Some(":1: the label file is not UTF-8 text") },
];

/// The CXR or CT reader (by file name), images in `imgs/` beside the label file.
fn read(path: &Path) -> heft::Result<()> {
    let imgs = path.parent().unwrap().join("imgs");
    let classes = ["negative", "positive"].map(String::from);
    match path.file_name().unwrap().to_string_lossy().ends_with("CT-2A.txt") {
        true => Dataset::covidx_ct(path, &imgs, None).map(drop),
        false => Dataset::covidx_cxr(path, &imgs, Some(&classes)).map(drop),
    }
}

#[test]
fn bad_label_files_give_errors_naming_the_file_and_line() {
    let dir = folder("labels");
    std::fs::create_dir_all(dir.join("imgs")).unwrap();
    for name in ["a.png", "b b.png"] {
        std::fs::write(dir.join("imgs").join(name), b"the label readers only check that it exists").unwrap();
    }
    run_table("labels", &dir, VALID_CXR.as_bytes(), CASES, &read);
    run_mutations("labels cxr", &dir, CXR, VALID_CXR.as_bytes(), &read);
    run_mutations("labels ct", &dir, CT, VALID_CT, &read);
    std::fs::remove_dir_all(&dir).unwrap();
}
