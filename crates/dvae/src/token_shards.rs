//! Tokenizing in pieces: shard `I/N` (0-based, as `SLURM_ARRAY_TASK_ID` counts) is the
//! I-th of N contiguous slices of the inputs in their order, of equal sizes up to one
//! (`⌊I·T/N⌋ .. ⌊(I+1)·T/N⌋` of T inputs, so a shard may be empty). `dvae encode --shard
//! I/N --out OUT.npy` writes `OUT-I-of-N.npy` and `OUT-I-of-N.json` (its input paths);
//! [`merge`] joins the N of them in order into what one unsharded run writes.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::tokens::{self, TokenGrids};

/// One of `count` slices of a list of inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, from 0.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = Error;

    /// `I/N` with `0 <= I < N`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::config("shard", format!("{why}, got {s:?}"));
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| bad("expected I/N (e.g. 0/4: the first of four)"))?;
        let (Ok(index), Ok(count)) = (i.trim().parse::<usize>(), n.trim().parse::<usize>()) else {
            return Err(bad("expected two whole numbers I/N"));
        };
        if count == 0 {
            return Err(bad("N must be at least 1"));
        }
        if index >= count {
            return Err(bad("I counts from 0 and must be below N"));
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// The positions of this shard's inputs among `total`.
    pub fn range(&self, total: usize) -> Range<usize> {
        let at = |i: usize| (total as u128 * i as u128 / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }

    /// The token file of this shard for the output `out`: `tokens.npy` → `tokens-I-of-N.npy`.
    pub fn file(&self, out: &Path) -> PathBuf {
        let stem = out
            .file_stem()
            .map_or_else(|| "tokens".to_string(), |s| s.to_string_lossy().to_string());
        out.with_file_name(format!("{stem}-{}-of-{}.npy", self.index, self.count))
    }

    /// The shard a token file's name says, and the name's stem: `tokens-2-of-4.npy` →
    /// (`tokens`, 2/4).
    pub fn of_file(path: &Path) -> Option<(String, Shard)> {
        let name = path.file_name()?.to_str()?.strip_suffix(".npy")?;
        let (rest, count) = name.rsplit_once("-of-")?;
        let (stem, index) = rest.rsplit_once('-')?;
        let shard = format!("{index}/{count}").parse().ok()?;
        Some((stem.to_string(), shard))
    }
}

/// The paths file beside a token file: `tokens.npy` → `tokens.json`.
pub fn paths_file(tokens: &Path) -> PathBuf {
    tokens.with_extension("json")
}

/// Reads the input paths a token file lists.
pub fn read_paths(tokens: &Path) -> Result<Vec<String>> {
    let p = paths_file(tokens);
    let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::data(&p, format!("expected a JSON list of input paths: {e}")))
}

/// Writes token grids and the paths file beside them, each atomically.
pub fn write(out: &Path, grids: &TokenGrids, paths: &[String]) -> Result<()> {
    tokens::write_npy(out, grids)?;
    let text = serde_json::to_string_pretty(paths).expect("strings serialise");
    crate::atomic::write_bytes_atomic(&paths_file(out), text.as_bytes())
}

/// Joins the token files of shards `0/N … N-1/N` (given in any order) in shard order: the
/// grids and input paths one unsharded run gives. Missing, repeated or foreign shards,
/// grids of different sizes, and shard sizes that are not the split of their total are
/// errors naming the files.
pub fn merge(files: &[PathBuf]) -> Result<(TokenGrids, Vec<String>)> {
    let Some(first) = files.first() else {
        return Err(Error::config("shards", "no token files given"));
    };
    let mut shards = Vec::with_capacity(files.len());
    for f in files {
        let (stem, shard) = Shard::of_file(f).ok_or_else(|| {
            Error::data(
                f,
                "not a shard's token file (expected a name like tokens-0-of-4.npy)",
            )
        })?;
        shards.push((stem, shard, f));
    }
    let (stem, count) = (shards[0].0.clone(), shards[0].1.count);
    let mut by_index: Vec<Option<&PathBuf>> = vec![None; count];
    for (s, shard, f) in &shards {
        if (s, shard.count) != (&stem, count) {
            return Err(Error::data(
                f,
                format!(
                    "shard {}/{} of {s:?}, but {} is a shard of {count} of {stem:?}",
                    shard.index,
                    shard.count,
                    first.display()
                ),
            ));
        }
        if let Some(other) = by_index[shard.index].replace(f) {
            return Err(Error::data(
                f,
                format!(
                    "shard {}/{count} given twice (also {})",
                    shard.index,
                    other.display()
                ),
            ));
        }
    }
    // The output the shards were written for, to name the missing ones.
    let out = first.with_file_name(format!("{stem}.npy"));
    let missing: Vec<String> = (0..count)
        .filter(|&i| by_index[i].is_none())
        .map(|i| Shard { index: i, count }.file(&out).display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::data(
            first,
            format!(
                "{} of {count} shards missing: {}",
                missing.len(),
                missing.join(", ")
            ),
        ));
    }
    let mut parts = Vec::with_capacity(count);
    for f in by_index.into_iter().flatten() {
        let grids = tokens::read_grids(f)?;
        let paths = read_paths(f)?;
        if paths.len() != grids.n {
            return Err(Error::data(
                paths_file(f),
                format!(
                    "lists {} inputs, but {} holds {} grids",
                    paths.len(),
                    f.display(),
                    grids.n
                ),
            ));
        }
        parts.push((f, grids, paths));
    }
    join(parts, count)
}

/// The shards' grids and paths, in order, once their sizes agree.
fn join(
    parts: Vec<(&PathBuf, TokenGrids, Vec<String>)>,
    count: usize,
) -> Result<(TokenGrids, Vec<String>)> {
    let total: usize = parts.iter().map(|p| p.1.n).sum();
    let (h, w) = (parts[0].1.h, parts[0].1.w);
    let mut out = TokenGrids {
        n: 0,
        h,
        w,
        ids: Vec::new(),
    };
    let mut paths = Vec::with_capacity(total);
    for (index, (f, g, p)) in parts.into_iter().enumerate() {
        if (g.h, g.w) != (h, w) {
            return Err(Error::data(
                f,
                format!("{}x{} token grids, shard 0's are {h}x{w}", g.h, g.w),
            ));
        }
        let want = Shard { index, count }.range(total).len();
        if g.n != want {
            return Err(Error::data(
                f,
                format!(
                    "holds {} grids, but shard {index}/{count} of {total} inputs has {want}: the \
                     shards were not made from the same inputs",
                    g.n
                ),
            ));
        }
        out.n += g.n;
        out.ids.extend(g.ids);
        paths.extend(p);
    }
    Ok((out, paths))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_inputs_once_in_order() {
        for total in 0..12 {
            for count in 1..6 {
                let mut next = 0;
                for index in 0..count {
                    let r = Shard { index, count }.range(total);
                    assert_eq!(r.start, next);
                    assert!(r.len() <= total / count + 1);
                    next = r.end;
                }
                assert_eq!(next, total);
            }
        }
        assert_eq!(
            "2/3".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 3 }
        );
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let s = Shard { index: 1, count: 3 };
        let f = s.file(Path::new("out/tok.npy"));
        assert_eq!(f, Path::new("out/tok-1-of-3.npy"));
        assert_eq!(Shard::of_file(&f), Some(("tok".into(), s)));
    }
}
