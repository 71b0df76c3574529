//! Run-directory reader: `config.json` (parse + validation) and a checkpoint's `state.json`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dvae::fuzz::run_dir(data);
});
