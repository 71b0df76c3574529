//! PyTorch checkpoint reader (zip and legacy pickle), as `dvae import-openai` reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dvae::fuzz::torch(data);
});
