//! Max, average and adaptive average pooling vs the CPU reference.

use crate::common::*;
use heft::ops::avgpool::{self, AvgPool};
use heft::ops::maxpool::{self, Pool};
use heft::reference::{avgpool as ravg, maxpool as rmax};

/// n, c, h, w, kernel, stride, pad, ceil
type Case = (usize, usize, usize, usize, usize, usize, usize, bool);

const CASES: [Case; 8] = [
    (1, 1, 4, 4, 2, 2, 0, false),
    (2, 3, 7, 9, 3, 2, 1, false),
    (3, 2, 13, 13, 3, 2, 0, false), // AlexNet pooling geometry
    (1, 4, 6, 5, 3, 1, 1, false),
    (2, 2, 8, 8, 3, 2, 0, true), // SqueezeNet ceil_mode: 8 -> 4 (floor gives 3)
    (1, 3, 7, 6, 3, 2, 1, true),
    (2, 2, 31, 31, 3, 2, 0, true), // SqueezeNet 1.1's first pool at 64 px
    (1, 2, 9, 11, 2, 3, 1, false), // stride > kernel: some inputs are in no window
];

#[test]
fn maxpool_matches_reference() {
    let mut rng = Rng::new(20);
    for (n, c, h, w, k, s, p, ceil) in CASES {
        let x = rng.vec(n * c * h * w);
        let pool = Pool { kernel: k, stride: s, pad: p, ceil };
        let (y, idx) = maxpool::forward(&upload(&x, &[n, c, h, w]), pool).unwrap();
        let (ry, ridx) = rmax::forward(&x, n * c, h, w, y.shape()[2], y.shape()[3], k, s, p);
        assert_close("maxpool y", &download(&y), &ry, 0.0, 0.0);
        assert_eq!(idx.to_u32().unwrap(), ridx.iter().map(|&i| i as u32).collect::<Vec<_>>());
        let dy = rng.vec(y.numel());
        let dx = maxpool::backward(&[n, c, h, w], &idx, &upload(&dy, y.shape()), pool).unwrap();
        assert_close("maxpool dx", &download(&dx), &rmax::backward(&dy, &ridx, n * c, h, w), 1e-6, 0.0);
    }
    // a dy whose batch or channels differ from the input's is refused, not half-written
    let x = upload(&rng.vec(2 * 3 * 8 * 8), &[2, 3, 8, 8]);
    let pool = Pool::new(2, 2);
    let (_, idx) = maxpool::forward(&x, pool).unwrap();
    let e = maxpool::backward(&[2, 2, 8, 8], &idx, &upload(&rng.vec(2 * 3 * 16), &[2, 3, 4, 4]), pool).unwrap_err();
    assert!(e.to_string().contains("differ in batch or channels"), "{e}");
    let e = avgpool::backward(&[1, 3, 8, 8], &upload(&rng.vec(2 * 3 * 16), &[2, 3, 4, 4]), AvgPool::Window(pool)).unwrap_err();
    assert!(e.to_string().contains("differ in batch or channels"), "{e}");
}

#[test]
fn avgpool_matches_reference() {
    let mut rng = Rng::new(21);
    for (n, c, h, w, k, s, p, ceil) in CASES {
        let x = rng.vec(n * c * h * w);
        let kind = AvgPool::Window(Pool { kernel: k, stride: s, pad: p, ceil });
        let y = avgpool::forward(&upload(&x, &[n, c, h, w]), kind).unwrap();
        let (oh, ow) = (y.shape()[2], y.shape()[3]);
        let fixed = Some((k, s, p));
        assert_close("avgpool y", &download(&y), &ravg::forward(&x, n * c, h, w, oh, ow, fixed), 1e-6, 1e-6);
        let dy = rng.vec(y.numel());
        let dx = avgpool::backward(&[n, c, h, w], &upload(&dy, y.shape()), kind).unwrap();
        assert_close("avgpool dx", &download(&dx), &ravg::backward(&dy, n * c, h, w, oh, ow, fixed), 1e-6, 1e-6);
    }
}

#[test]
fn adaptive_avgpool_matches_reference() {
    let mut rng = Rng::new(22);
    for &(n, c, h, w, oh, ow) in &[(2, 3, 13, 13, 6, 6), (1, 2, 7, 5, 3, 2), (2, 4, 5, 5, 1, 1), (1, 2, 5, 11, 4, 3)] {
        let x = rng.vec(n * c * h * w);
        let kind = AvgPool::Adaptive(oh, ow);
        let y = avgpool::forward(&upload(&x, &[n, c, h, w]), kind).unwrap();
        assert_close("adaptive y", &download(&y), &ravg::forward(&x, n * c, h, w, oh, ow, None), 1e-6, 1e-6);
        let dy = rng.vec(y.numel());
        let dx = avgpool::backward(&[n, c, h, w], &upload(&dy, y.shape()), kind).unwrap();
        assert_close("adaptive dx", &download(&dx), &ravg::backward(&dy, n * c, h, w, oh, ow, None), 1e-6, 1e-6);
    }
}

#[test]
fn ceil_mode_output_sizes_follow_pytorch() {
    // torch.nn.MaxPool2d(3, 2, ceil_mode=True): 111 -> 55, 55 -> 27, 27 -> 13, 8 -> 4; 7 (pad 1) -> 4
    let p = Pool { kernel: 3, stride: 2, pad: 0, ceil: true };
    for (n, want) in [(111, 55), (55, 27), (27, 13), (8, 4), (13, 6)] {
        assert_eq!(p.out("test", n).unwrap(), want, "n = {n}");
    }
    assert_eq!(Pool { pad: 1, ..p }.out("test", 7).unwrap(), 4);
}

#[test]
fn pooling_rejects_too_small_inputs() {
    let e = maxpool::forward(&upload(&[0.0; 4], &[1, 1, 2, 2]), Pool::new(3, 2)).unwrap_err();
    assert!(e.to_string().contains("smaller than the kernel"), "{e}");
}
