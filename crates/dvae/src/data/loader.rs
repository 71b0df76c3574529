//! [`BatchStream`]: training batches streamed from tar shards, memory bounded by a buffer.
//!
//! A reader thread walks the shards of each epoch in a seeded order through a seeded
//! shuffle buffer of encoded samples; a batcher thread decodes and resizes each batch on
//! worker threads, ahead of the step. The stream is a pure function of the shards, the
//! seed and its position ([`StreamPos`]: the epoch and how many samples of it were taken
//! from the shuffle buffer), so a resumed run sees the same batches. The buffer is drained
//! at the end of each epoch, so resuming replays at most one epoch's reading (no decoding).

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::augment::Augment;
use super::image_io;
use super::tar_samples::{Item, Sample, read_shard};
use crate::error::{Error, Result};

/// Where a stream stands: batches continue from here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPos {
    /// Passes over the shards completed.
    pub epoch: usize,
    /// Samples of this epoch taken from the shuffle buffer (skipped ones included).
    pub taken: usize,
}

/// How a [`BatchStream`] reads.
#[derive(Clone, Debug)]
pub struct StreamSpec {
    /// The shards, in their listed order.
    pub shards: Vec<PathBuf>,
    /// Side of the square images produced.
    pub size: usize,
    /// Seed of the shard order, the shuffle buffer and the augmentation.
    pub seed: u64,
    /// Images a batch.
    pub batch: usize,
    /// Encoded samples held in the shuffle buffer.
    pub buffer: usize,
    /// Threads decoding and resizing.
    pub workers: usize,
    /// Batches decoded ahead of the step.
    pub prefetch: usize,
    /// A sample that cannot be read stops the stream with an error instead of being skipped.
    pub strict: bool,
    /// Items at the head of the last shard held out of training (the evaluation set).
    pub held_out: usize,
    /// Random crops and flips.
    pub augment: Augment,
}

/// One batch of a stream.
pub struct Batch {
    /// `n` images of `size`×`size`×3 bytes (HWC), one after another.
    pub pixels: Vec<u8>,
    /// Images in it.
    pub n: usize,
    /// The stream's position after this batch.
    pub pos: StreamPos,
}

/// What was skipped so far: name → reason (each name once, however many epochs saw it).
pub type Skipped = Arc<Mutex<BTreeMap<String, String>>>;

/// Batches of a shard stream, decoded ahead on worker threads.
pub struct BatchStream {
    rx: Option<Receiver<Result<Batch>>>,
    threads: Vec<JoinHandle<()>>,
}

impl BatchStream {
    /// Starts reading `spec` at `from`; what it skips is added to `skipped`.
    pub fn open(spec: StreamSpec, from: StreamPos, skipped: Skipped) -> Result<Self> {
        if spec.shards.is_empty() || spec.batch == 0 {
            return Err(Error::config(
                "data",
                "a stream needs shards and a batch size",
            ));
        }
        let spec = Arc::new(spec);
        let (item_tx, item_rx) = sync_channel(spec.batch.max(64));
        let (batch_tx, batch_rx) = sync_channel(spec.prefetch.max(1));
        let reader = {
            let spec = spec.clone();
            std::thread::Builder::new()
                .name("dvae-shard-reader".into())
                .spawn(move || read_epochs(&spec, from, &item_tx))
                .map_err(|e| Error::io("shard reader thread", e))?
        };
        let batcher = {
            let spec = spec.clone();
            std::thread::Builder::new()
                .name("dvae-batcher".into())
                .spawn(move || make_batches(&spec, &item_rx, &batch_tx, &skipped))
                .map_err(|e| Error::io("batcher thread", e))?
        };
        Ok(Self {
            rx: Some(batch_rx),
            threads: vec![reader, batcher],
        })
    }

    /// The next batch (waits until it is decoded).
    pub fn next_batch(&mut self) -> Result<Batch> {
        self.rx
            .as_ref()
            .and_then(|rx| rx.recv().ok())
            .unwrap_or_else(|| Err(Error::config("data", "the shard stream stopped")))
    }
}

impl Drop for BatchStream {
    fn drop(&mut self) {
        // Closing the receiving end makes both threads' next send fail, and they return.
        self.rx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The shards of `epoch` in their seeded order.
pub fn shard_order(shards: &[PathBuf], seed: u64, epoch: usize) -> Vec<PathBuf> {
    let mut order = shards.to_vec();
    order.shuffle(&mut epoch_rng(seed, epoch, 0x5a4d));
    order
}

fn epoch_rng(seed: u64, epoch: usize, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ stream);
    rng.set_stream(epoch as u64);
    rng
}

/// The reader thread: every epoch's items through the shuffle buffer, each sent with the
/// position after it; the first `from.taken` of the first epoch are read but not sent.
fn read_epochs(spec: &StreamSpec, from: StreamPos, tx: &SyncSender<(Item, StreamPos)>) {
    let last = spec.shards.last().cloned();
    let mut epoch = from.epoch;
    let mut skip = from.taken;
    loop {
        let mut rng = epoch_rng(spec.seed, epoch, 0xb0ff);
        let mut buf: Vec<Item> = Vec::with_capacity(spec.buffer);
        let mut taken = 0usize;
        let send = |item: Item, taken: &mut usize| {
            *taken += 1;
            if *taken <= skip {
                return ControlFlow::Continue(());
            }
            let pos = StreamPos {
                epoch,
                taken: *taken,
            };
            match tx.send((item, pos)) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        };
        for shard in shard_order(&spec.shards, spec.seed, epoch) {
            let mut head = if Some(&shard) == last.as_ref() {
                spec.held_out
            } else {
                0
            };
            let mut flow = ControlFlow::Continue(());
            let read = read_shard(&shard, |item| {
                if head > 0 {
                    head -= 1;
                    return ControlFlow::Continue(());
                }
                buf.push(item);
                if buf.len() >= spec.buffer.max(1) {
                    let i = rng.random_range(0..buf.len());
                    flow = send(buf.swap_remove(i), &mut taken);
                }
                flow
            });
            if let Err(e) = read {
                buf.push(Item::Bad {
                    name: shard.display().to_string(),
                    reason: e.to_string(),
                });
            }
            if flow.is_break() {
                return;
            }
        }
        while !buf.is_empty() {
            let i = rng.random_range(0..buf.len());
            if send(buf.swap_remove(i), &mut taken).is_break() {
                return;
            }
        }
        if taken == 0 {
            // Nothing at all to read: the batcher reports it and the stream ends.
            let _ = tx.send((
                Item::Bad {
                    name: String::new(),
                    reason: String::new(),
                },
                StreamPos { epoch, taken: 0 },
            ));
            return;
        }
        epoch += 1;
        skip = 0;
    }
}

/// The batcher thread: gathers samples, decodes each batch on `spec.workers` threads in
/// order, and sends it; unreadable samples are skipped (listed) or, `strict`, an error.
fn make_batches(
    spec: &StreamSpec,
    rx: &Receiver<(Item, StreamPos)>,
    tx: &SyncSender<Result<Batch>>,
    skipped: &Skipped,
) {
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(spec.workers.max(1))
        .thread_name(|i| format!("dvae-decode-{i}"))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(Err(Error::config("data", format!("decode threads: {e}"))));
            return;
        }
    };
    let per = spec.size * spec.size * 3;
    let fail = |name: String, reason: String| -> Option<Error> {
        if spec.strict {
            return Some(Error::data(name, reason));
        }
        let mut s = skipped.lock().unwrap_or_else(|e| e.into_inner());
        s.entry(name).or_insert(reason);
        None
    };
    let mut good = 0usize;
    let mut first_epoch = None;
    loop {
        let mut pixels = Vec::with_capacity(spec.batch * per);
        let mut n = 0;
        let mut pos = StreamPos::default();
        while n < spec.batch {
            let mut chunk: Vec<(Sample, StreamPos)> = Vec::with_capacity(spec.batch - n);
            while chunk.len() < spec.batch - n {
                let Ok((item, p)) = rx.recv() else { return };
                pos = p;
                let first = *first_epoch.get_or_insert(p.epoch);
                // The reader's end-of-data mark, or a whole pass without one readable sample.
                let none = matches!(&item, Item::Bad { name, .. } if name.is_empty());
                if none || (good == 0 && p.epoch >= first + 2) {
                    let k = skipped.lock().map(|s| s.len()).unwrap_or(0);
                    let why = format!("no readable samples in any shard ({k} skipped)");
                    let shard = spec.shards.first().map_or(Path::new(""), |p| p);
                    let _ = tx.send(Err(Error::data(shard, why)));
                    return;
                }
                match item {
                    Item::Sample(s) => chunk.push((s, p)),
                    Item::Bad { name, reason } => {
                        if let Some(e) = fail(name, reason) {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            }
            let decoded: Vec<Result<Vec<u8>>> = pool.install(|| {
                chunk
                    .par_iter()
                    .map(|(s, p)| decode_sample(s, spec, *p))
                    .collect()
            });
            for ((s, _), d) in chunk.into_iter().zip(decoded) {
                match d {
                    Ok(px) => {
                        pixels.extend_from_slice(&px);
                        n += 1;
                        good += 1;
                    }
                    Err(e) => {
                        if let Some(e) = fail(s.name, e.to_string()) {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            }
        }
        if tx.send(Ok(Batch { pixels, n, pos })).is_err() {
            return;
        }
    }
}

/// Sample `s` decoded and fitted to the stream's size, augmented as its position says.
fn decode_sample(s: &Sample, spec: &StreamSpec, pos: StreamPos) -> Result<Vec<u8>> {
    let img = image_io::decode(Path::new(&s.name), &s.bytes)?;
    let key = (pos.epoch as u64) << 40 ^ pos.taken as u64;
    Ok(spec.augment.apply(&img, spec.size, spec.seed, key))
}

/// Items (samples and problems) in `shard`.
pub fn count_items(shard: &Path) -> Result<usize> {
    let mut n = 0;
    read_shard(shard, |_| {
        n += 1;
        ControlFlow::Continue(())
    })?;
    Ok(n)
}
