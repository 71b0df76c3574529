//! Image loader path: decode any bytes, then convert and fit to a small square.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dvae::fuzz::image(data);
});
