//! GPU memory stays bounded: the pool frees what it returns past its cap, and a request beyond
//! the device is an error that says what to lower. Each test opens its own GPU, so the
//! counters see only its own work.

use heft::{AdapterChoice, DType, Gpu, Tensor};

fn open(pool_bytes: Option<u64>) -> Gpu {
    Gpu::new(&AdapterChoice { pool_bytes, ..Default::default() }).expect("tests need a GPU adapter (lavapipe is enough)")
}

#[test]
fn buffers_returned_past_the_pool_cap_are_freed() {
    const KIB512: u64 = 512 << 10;
    let gpu = open(Some(2 * KIB512));
    assert_eq!(gpu.memory().allocated, 0, "a fresh GPU holds nothing through its pool");
    let take = |n: usize| -> Vec<Tensor> { (0..n).map(|_| Tensor::empty(&gpu, &[128 << 10], DType::F32).unwrap()).collect() };
    let three = take(3);
    assert_eq!((gpu.memory().allocated, gpu.memory().idle), (3 * KIB512, 0));
    drop(three);
    // two fit under the 1 MiB cap and stay idle; the third is freed
    let m = gpu.memory();
    assert_eq!((m.allocated, m.idle, m.high_water), (2 * KIB512, 2 * KIB512, 3 * KIB512));
    // the idle ones are taken again before anything new is allocated
    let two = take(2);
    assert_eq!((gpu.memory().allocated, gpu.memory().idle), (2 * KIB512, 0));
    drop(two);
}

/// A tensor above the device's largest buffer is refused before anything is allocated, with
/// the sizes and what to lower. (A real allocation failure is not provoked: lavapipe's buffers
/// are at most 2 GiB and are allocated lazily, so it would take tens of GiB of host memory.)
#[test]
fn a_tensor_above_the_largest_buffer_is_refused_with_what_to_lower() {
    let gpu = open(None);
    let max = gpu.limits().max_buffer_size;
    let e = Tensor::empty(&gpu, &[(max / 4 + 1) as usize], DType::F32).unwrap_err().to_string();
    assert!(e.contains(&format!("the device allows {max}")) && e.contains("smaller batch"), "{e}");
    assert_eq!(gpu.memory().allocated, 0, "a refused tensor allocated memory");
}
