//! Recycled activation buffers. A fresh multi-megabyte `Vec` comes from `mmap` and costs a
//! page fault per 4 KiB on first touch (12 % of encode/decode time before this pool); maps
//! freed by one layer are handed to the next instead. Bounded, so large models' maps (which
//! are not worth keeping) go back to the allocator.

use std::sync::Mutex;

/// Most bytes kept.
const MAX_BYTES: usize = 96 << 20;

static FREE: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A buffer of `n` values: a recycled one's (unspecified) when one is large enough, zeros
/// otherwise. Not zeroing recycled buffers saves a pass over memory on the calling thread.
pub fn take(n: usize) -> Vec<f32> {
    let recycled = {
        let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= n)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        best.map(|i| free.swap_remove(i))
    };
    match recycled {
        Some(mut v) => {
            if v.len() >= n {
                v.truncate(n);
            } else {
                v.resize(n, 0.0);
            }
            v
        }
        None => vec![0.0; n],
    }
}

/// Returns a buffer for reuse (dropped if it would take the pool over its bound).
pub fn give(v: Vec<f32>) {
    let bytes = |v: &Vec<f32>| v.capacity() * size_of::<f32>();
    if v.capacity() == 0 || bytes(&v) > MAX_BYTES / 4 {
        return;
    }
    let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
    free.push(v);
    while free.iter().map(bytes).sum::<usize>() > MAX_BYTES {
        // The smallest go first: the large ones save the most page faults.
        let smallest = (0..free.len())
            .min_by_key(|&i| free[i].capacity())
            .unwrap_or(0);
        free.swap_remove(smallest);
    }
}
