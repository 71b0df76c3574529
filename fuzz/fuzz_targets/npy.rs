//! Token `.npy` reader, with the vocabulary and grid checks of `dvae decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dvae::fuzz::npy(data);
});
