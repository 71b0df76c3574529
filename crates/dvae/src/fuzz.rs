//! The entry points of the fuzz targets in `fuzz/` (`cargo +nightly fuzz run <target>`): each
//! feeds arbitrary bytes to a reader of user files exactly as the library reads them. The
//! property checked is that none panics, overflows or runs out of memory: every input ends
//! in a value or an [`Error`](crate::Error). `tests/lib/fuzz_seeds.rs` replays the
//! committed seed corpus through the same functions on stable.

use std::path::Path;

use crate::data::image_io;
use crate::import::openai::{Part, read_part};
use crate::run_config::RunConfig;
use crate::train::checkpoint::TrainState;

/// Image loader: decode (any format, under the memory limits), convert to RGB and fit to a
/// 16×16 square, as a data folder's images are.
pub fn image(data: &[u8]) {
    if let Ok(img) = image_io::decode(Path::new("fuzz.img"), data) {
        let px = image_io::fit_square(&img, 16);
        assert_eq!(px.len(), 16 * 16 * 3);
    }
}

/// Token `.npy` reader with the `tiny` preset's checks (vocab 512, 8×8 grids).
pub fn npy(data: &[u8]) {
    if let Ok(g) = crate::tokens::parse_npy(Path::new("fuzz.npy"), data, 512, 8) {
        assert_eq!(g.ids.len(), g.n * g.h * g.w);
        assert!(g.ids.iter().all(|&t| t < 512));
    }
}

/// Run-directory reader: `config.json` and a checkpoint's `state.json`. A config that
/// validates must give a model whose derived sizes can be computed.
pub fn run_dir(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = RunConfig::from_json(Path::new("config.json"), text) {
        let m = &c.model;
        let _ = (m.grid_size(), m.output_channels());
        let _ = (0..m.group_count).map(|g| m.group_width(g)).sum::<usize>();
    }
    let _ = TrainState::from_json(Path::new("state.json"), text);
}

/// PyTorch checkpoint reader: container (zip or legacy), restricted unpickler, module tree,
/// fields and every tensor, read as an OpenAI encoder and as a decoder.
pub fn torch(data: &[u8]) {
    for part in [Part::Encoder, Part::Decoder] {
        let _ = read_part(Path::new("fuzz.pkl"), data, part);
    }
}
