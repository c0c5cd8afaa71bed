//! A plain-Rust CPU evaluation of the ONNX files `heft export` writes, independent of heft's
//! exporter and GPU kernels: a protobuf reader for the few fields onnx.proto needs here, the
//! seven operators (Conv, Gemm, Mul, Add, AveragePool, Flatten, Concat) on f32 NCHW tensors,
//! and the list of nodes.

use std::collections::HashMap;

/// A tensor: shape and values, row-major.
type T = (Vec<usize>, Vec<f32>);

/// The fields of one protobuf message: (field number, varint or bytes).
fn fields(mut b: &[u8]) -> Vec<(u64, Result<u64, &[u8]>)> {
    fn varint(b: &mut &[u8]) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[0];
            *b = &b[1..];
            v |= ((byte & 0x7f) as u64) << shift;
            shift += 7;
            if byte < 0x80 {
                return v;
            }
        }
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        match key & 7 {
            0 => out.push((key >> 3, Ok(varint(&mut b)))),
            2 => {
                let n = varint(&mut b) as usize;
                out.push((key >> 3, Err(&b[..n])));
                b = &b[n..];
            }
            w => panic!("wire type {w} is not written by heft's exporter"),
        }
    }
    out
}

fn bytes_of<'a>(f: &[(u64, Result<u64, &'a [u8]>)], n: u64) -> Vec<&'a [u8]> {
    f.iter().filter(|(k, _)| *k == n).filter_map(|(_, v)| v.err()).collect()
}

fn str_of(f: &[(u64, Result<u64, &[u8]>)], n: u64) -> Vec<String> {
    bytes_of(f, n).into_iter().map(|b| String::from_utf8(b.to_vec()).unwrap()).collect()
}

fn ints_of(f: &[(u64, Result<u64, &[u8]>)], n: u64) -> Vec<usize> {
    f.iter().filter(|(k, _)| *k == n).filter_map(|(_, v)| v.ok()).map(|v| v as usize).collect()
}

/// Each node's operator type and inputs, in order.
pub fn nodes(bytes: &[u8]) -> Vec<(String, Vec<String>)> {
    let graph = fields(bytes_of(&fields(bytes), 7)[0]);
    bytes_of(&graph, 1).into_iter().map(fields).map(|n| (str_of(&n, 4)[0].clone(), str_of(&n, 1))).collect()
}

/// Runs the ONNX model `bytes` on `x`; returns the graph output.
pub fn run(bytes: &[u8], x: T) -> T {
    let model = fields(bytes);
    let graph = fields(bytes_of(&model, 7)[0]);
    let mut vals: HashMap<String, T> = HashMap::new();
    for t in bytes_of(&graph, 5) {
        let t = fields(t);
        let data = bytes_of(&t, 9)[0].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        vals.insert(str_of(&t, 8)[0].clone(), (ints_of(&t, 1), data));
    }
    let input = fields(bytes_of(&graph, 11)[0]);
    vals.insert(str_of(&input, 1)[0].clone(), x);
    for n in bytes_of(&graph, 1) {
        let n = fields(n);
        let ins: Vec<&T> = str_of(&n, 1).iter().map(|i| &vals[i]).collect();
        let attrs: HashMap<String, Vec<usize>> = bytes_of(&n, 5)
            .into_iter()
            .map(|a| {
                let a = fields(a);
                (str_of(&a, 1)[0].clone(), [ints_of(&a, 3), ints_of(&a, 8)].concat())
            })
            .collect();
        let y = match str_of(&n, 4)[0].as_str() {
            "Conv" => conv(ins[0], ins[1], ins[2], attrs["strides"][0], attrs["pads"][0]),
            "Gemm" => gemm(ins[0], ins[1], ins[2]),
            "Mul" => broadcast(ins[0], ins[1], |a, b| a * b),
            "Add" => broadcast(ins[0], ins[1], |a, b| a + b),
            "AveragePool" => avgpool(ins[0], &attrs["kernel_shape"], attrs["strides"][0], attrs["pads"][0], attrs["ceil_mode"][0] == 1),
            "Flatten" => (vec![ins[0].0[0], ins[0].0[1..].iter().product()], ins[0].1.clone()),
            "Concat" => concat(&ins),
            op => panic!("{op} is not an operator heft exports"),
        };
        vals.insert(str_of(&n, 2)[0].clone(), y);
    }
    let output = fields(bytes_of(&graph, 12)[0]);
    vals.remove(&str_of(&output, 1)[0]).unwrap()
}

fn conv((xs, x): &T, (ws, w): &T, (_, b): &T, stride: usize, pad: usize) -> T {
    let (n, c, h, wd, o, k) = (xs[0], xs[1], xs[2], xs[3], ws[0], ws[2]);
    let (oh, ow) = ((h + 2 * pad - k) / stride + 1, (wd + 2 * pad - k) / stride + 1);
    let mut y = vec![0.0; n * o * oh * ow];
    for (i, out) in y.iter_mut().enumerate() {
        let (bi, oc, r, col) = (i / (o * oh * ow), i / (oh * ow) % o, i / ow % oh, i % ow);
        let mut s = b[oc] as f64;
        for ic in 0..c {
            for (ky, kx) in (0..k).flat_map(|ky| (0..k).map(move |kx| (ky, kx))) {
                let (yy, xx) = ((r * stride + ky) as isize - pad as isize, (col * stride + kx) as isize - pad as isize);
                if (0..h as isize).contains(&yy) && (0..wd as isize).contains(&xx) {
                    s += (x[((bi * c + ic) * h + yy as usize) * wd + xx as usize] * w[((oc * c + ic) * k + ky) * k + kx]) as f64;
                }
            }
        }
        *out = s as f32;
    }
    (vec![n, o, oh, ow], y)
}

/// x · wᵀ + b (transB = 1).
fn gemm((xs, x): &T, (ws, w): &T, (_, b): &T) -> T {
    let (n, k, m) = (xs[0], xs[1], ws[0]);
    let y = (0..n * m).map(|i| b[i % m] + (0..k).map(|j| (x[i / m * k + j] * w[i % m * k + j]) as f64).sum::<f64>() as f32).collect();
    (vec![n, m], y)
}

/// An element-wise operation with numpy broadcasting (shapes aligned at the right).
fn broadcast((a_s, a): &T, (b_s, b): &T, f: impl Fn(f32, f32) -> f32) -> T {
    let rank = a_s.len().max(b_s.len());
    let pad = |s: &[usize]| [vec![1; rank - s.len()], s.to_vec()].concat();
    let (a_s, b_s) = (pad(a_s), pad(b_s));
    let shape: Vec<usize> = a_s.iter().zip(&b_s).map(|(x, y)| *x.max(y)).collect();
    let index = |s: &[usize], mut i: usize| {
        let (mut at, mut stride) = (0, 1);
        for d in (0..rank).rev() {
            let coord = i % shape[d];
            i /= shape[d];
            at += if s[d] == 1 { 0 } else { coord * stride };
            stride *= s[d];
        }
        at
    };
    let y = (0..shape.iter().product()).map(|i| f(a[index(&a_s, i)], b[index(&b_s, i)])).collect();
    (shape, y)
}

/// Average pooling with padding counted (count_include_pad = 1).
fn avgpool((xs, x): &T, k: &[usize], stride: usize, pad: usize, ceil: bool) -> T {
    let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let out = |len: usize, k: usize| {
        let span = len + 2 * pad - k;
        let mut o = if ceil { span.div_ceil(stride) } else { span / stride } + 1;
        if ceil && (o - 1) * stride >= len + pad {
            o -= 1; // the last window must start inside the input or its left padding
        }
        o
    };
    let (oh, ow) = (out(h, k[0]), out(w, k[1]));
    let mut y = vec![0.0; n * c * oh * ow];
    for (i, v) in y.iter_mut().enumerate() {
        let (plane, r, col) = (i / (oh * ow), i / ow % oh, i % ow);
        let (y0, x0) = ((r * stride) as isize - pad as isize, (col * stride) as isize - pad as isize);
        let (y1, x1) = ((y0 + k[0] as isize).min((h + pad) as isize), (x0 + k[1] as isize).min((w + pad) as isize));
        let mut s = 0.0f64;
        for yy in y0.max(0)..y1.min(h as isize) {
            for xx in x0.max(0)..x1.min(w as isize) {
                s += x[(plane * h + yy as usize) * w + xx as usize] as f64;
            }
        }
        *v = (s / ((y1 - y0) * (x1 - x0)) as f64) as f32;
    }
    (vec![n, c, oh, ow], y)
}

/// Along channels.
fn concat(ins: &[&T]) -> T {
    let (n, hw) = (ins[0].0[0], ins[0].0[2] * ins[0].0[3]);
    let c: usize = ins.iter().map(|t| t.0[1]).sum();
    let mut y = Vec::with_capacity(n * c * hw);
    for b in 0..n {
        for (s, v) in ins {
            y.extend_from_slice(&v[b * s[1] * hw..(b + 1) * s[1] * hw]);
        }
    }
    (vec![n, c, ins[0].0[2], ins[0].0[3]], y)
}
