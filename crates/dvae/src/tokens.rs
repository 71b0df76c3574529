//! Token grids on disk: `.npy` arrays of shape `[N, h, w]` (u16, or i32 for K > 65536 —
//! not produced today), readable with `numpy.load`. Arrays numpy wrote in Fortran order
//! (`np.asfortranarray`) read as well.

use std::path::Path;

use npyz::WriterBuilder;

use crate::error::{Error, Result};

/// Token grids of `n` images, row-major `[n, h, w]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenGrids {
    /// Number of images.
    pub n: usize,
    /// Grid height.
    pub h: usize,
    /// Grid width.
    pub w: usize,
    /// `n·h·w` token ids.
    pub ids: Vec<u32>,
}

/// Writes `grids` as an `.npy` of u16 `[N, h, w]`, atomically.
pub fn write_npy(path: &Path, grids: &TokenGrids) -> Result<()> {
    if let Some(&bad) = grids.ids.iter().find(|&&t| t > u16::MAX as u32) {
        return Err(Error::config(
            "tokens",
            format!("id {bad} does not fit in u16"),
        ));
    }
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[grids.n as u64, grids.h as u64, grids.w as u64])
            .writer(&mut buf)
            .begin_nd()
            .map_err(|e| Error::io(path, e))?;
        for &t in &grids.ids {
            w.push(&(t as u16)).map_err(|e| Error::io(path, e))?;
        }
        w.finish().map_err(|e| Error::io(path, e))?;
    }
    crate::atomic::write_bytes_atomic(path, &buf)
}

/// Reads an `.npy` of integer tokens with shape `[N, h, w]` (or `[h, w]` for one image),
/// checking every id is below `vocab_size` and the grid is `grid`×`grid`.
pub fn read_npy(path: &Path, vocab_size: usize, grid: usize) -> Result<TokenGrids> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(path, &bytes, vocab_size, grid)
}

/// [`read_npy`] on the bytes of a file held in memory; `path` is used in messages.
pub fn parse_npy(path: &Path, bytes: &[u8], vocab_size: usize, grid: usize) -> Result<TokenGrids> {
    parse(path, bytes, Some(grid), vocab_size)
}

/// Reads an `.npy` of token grids of any size (`[N, h, w]`, or `[h, w]` for one image),
/// as `dvae encode` writes them, without a model to check them against.
pub fn read_grids(path: &Path) -> Result<TokenGrids> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(path, &bytes, None, usize::MAX)
}

/// The token grids in `bytes`, their grid `grid`×`grid` where that is given, every id below
/// `vocab_size` (and below 2³², the ids' type).
fn parse(path: &Path, bytes: &[u8], grid: Option<usize>, vocab_size: usize) -> Result<TokenGrids> {
    let bad = |reason: String| Error::data(path, reason);
    check_header(bytes).map_err(bad)?;
    let npy =
        npyz::NpyFile::new(bytes).map_err(|e| bad(format!("not a readable .npy file: {e}")))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let (n, h, w) = match shape.as_slice() {
        [n, h, w] => (*n, *h, *w),
        [h, w] => (1, *h, *w),
        other => {
            let g = grid.map_or("h, w".to_string(), |g| format!("{g}, {g}"));
            return Err(bad(format!("expected shape [N, {g}], got {other:?}")));
        }
    };
    if let Some(grid) = grid
        && (h, w) != (grid, grid)
    {
        return Err(bad(grid_mismatch(grid, h, w)));
    }
    let fortran = npy.order() == npyz::Order::Fortran;
    let dtype = npy.dtype();
    let type_str = match &dtype {
        npyz::DType::Plain(t) => t.to_string(),
        other => {
            return Err(bad(format!(
                "expected an integer array, got dtype {other:?}"
            )));
        }
    };
    let ids: Vec<i64> = match type_str.trim_start_matches(['<', '>', '|', '=']) {
        "u1" => read_as::<u8>(npy, path)?,
        "u2" => read_as::<u16>(npy, path)?,
        "u4" => read_as::<u32>(npy, path)?,
        "i2" => read_as::<i16>(npy, path)?,
        "i4" => read_as::<i32>(npy, path)?,
        "i8" => read_as::<i64>(npy, path)?,
        "u8" => read_as::<u64>(npy, path)?,
        _ => {
            return Err(bad(format!(
                "expected an integer dtype (u1/u2/u4/i2/i4/i8), got {type_str}"
            )));
        }
    };
    if Some(ids.len()) != n.checked_mul(h * w) {
        return Err(bad(format!(
            "header says {n}x{h}x{w} values, file holds {}",
            ids.len()
        )));
    }
    let ids = if fortran {
        row_major(&ids, n, h, w)
    } else {
        ids
    };
    let limit = (vocab_size as u64).min(1 << 32) as i64;
    if let Some((i, &t)) = ids
        .iter()
        .enumerate()
        .find(|(_, t)| **t < 0 || **t >= limit)
    {
        return Err(bad(id_out_of_range(i, t, h * w, vocab_size)));
    }
    Ok(TokenGrids {
        n,
        h,
        w,
        ids: ids.into_iter().map(|t| t as u32).collect(),
    })
}

/// The values of a Fortran-ordered (column-major) `[n, h, w]` array in row-major order:
/// element `(i, j, k)` is at `i + n·(j + h·k)` in the file, at `(i·h + j)·w + k` here.
fn row_major(ids: &[i64], n: usize, h: usize, w: usize) -> Vec<i64> {
    let mut out = vec![0; ids.len()];
    for i in 0..n {
        for j in 0..h {
            for k in 0..w {
                out[(i * h + j) * w + k] = ids[i + n * (j + h * k)];
            }
        }
    }
    out
}

/// What is wrong with token grids of `h`×`w` for a model that decodes `grid`×`grid`.
pub fn grid_mismatch(grid: usize, h: usize, w: usize) -> String {
    format!("expected {grid}x{grid} token grids for this model, got {h}x{w}")
}

/// What is wrong with the id `t` at flat position `i` of grids of `cells` cells each, for a
/// model of `vocab_size` codes.
pub fn id_out_of_range(i: usize, t: i64, cells: usize, vocab_size: usize) -> String {
    format!(
        "token id {t} at image {}, cell {} is outside 0..{vocab_size} (the model's vocab_size)",
        i / cells.max(1),
        i % cells.max(1)
    )
}

/// Largest `.npy` header read: numpy's own limit (`np.load(max_header_size=10000)`).
const MAX_HEADER: usize = 10_000;

/// Checks an `.npy` header before npyz parses it, for two faults the fuzz target found:
/// npyz's Python-literal parser backtracks exponentially on deeply nested brackets, and it
/// multiplies the shape's dimensions unchecked (a huge N wraps, read as an empty file).
/// Every value takes at least a byte, so a shape with more values than the file has bytes
/// is refused. Anything else odd is left to npyz to report.
fn check_header(bytes: &[u8]) -> std::result::Result<(), String> {
    let Some(rest) = bytes.strip_prefix(b"\x93NUMPY") else {
        return Ok(());
    };
    let (len, start) = match (rest.first(), rest.get(2..6)) {
        (Some(1), Some(b)) => (u16::from_le_bytes([b[0], b[1]]) as usize, 10),
        (Some(2 | 3), Some(b)) => (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12),
        _ => return Ok(()),
    };
    if len > MAX_HEADER {
        return Err(format!(
            "header of {len} bytes, more than the {MAX_HEADER} numpy reads"
        ));
    }
    let header = bytes.get(start..).unwrap_or_default();
    let header = String::from_utf8_lossy(&header[..len.min(header.len())]);
    let (mut depth, mut deepest) = (0usize, 0);
    for c in header.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > 3 {
        return Err(format!(
            "header nests brackets {deepest} deep (a token file's nests 2)"
        ));
    }
    let Some(dims) = shape_dims(&header) else {
        return Ok(());
    };
    let values = dims
        .iter()
        .try_fold(1u64, |acc, d| d.parse::<u64>().ok()?.checked_mul(acc));
    if values.is_none_or(|v| v > bytes.len() as u64) {
        return Err(format!(
            "header shape ({}) holds more values than the file's {} bytes",
            dims.join(", "),
            bytes.len()
        ));
    }
    Ok(())
}

/// The dimensions in a header's `'shape': (…)` entry, as text (`L` suffixes of Python 2
/// dropped); `None` where there is no such entry or a dimension is not digits.
fn shape_dims(header: &str) -> Option<Vec<String>> {
    let after = &header[header.find("shape")? + "shape".len()..];
    let tuple = &after[after.find('(')? + 1..];
    let tuple = &tuple[..tuple.find(')')?];
    let dims: Vec<String> = tuple
        .split(',')
        .map(|d| d.trim().trim_end_matches('L').to_string())
        .filter(|d| !d.is_empty())
        .collect();
    dims.iter()
        .all(|d| d.bytes().all(|b| b.is_ascii_digit()))
        .then_some(dims)
}

fn read_as<T>(npy: npyz::NpyFile<&[u8]>, path: &Path) -> Result<Vec<i64>>
where
    T: npyz::Deserialize + TryInto<i64> + Copy,
{
    let mut out = Vec::new();
    for v in npy
        .data::<T>()
        .map_err(|e| Error::data(path, format!("cannot read values: {e}")))?
    {
        let v = v.map_err(|e| Error::data(path, format!("truncated or corrupt data: {e}")))?;
        out.push(v.try_into().unwrap_or(i64::MAX));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.npy");
        let g = TokenGrids {
            n: 2,
            h: 2,
            w: 2,
            ids: vec![0, 1, 2, 511, 5, 6, 7, 8],
        };
        write_npy(&p, &g).unwrap();
        assert_eq!(read_npy(&p, 512, 2).unwrap(), g);
        let e = read_npy(&p, 100, 2).unwrap_err().to_string();
        assert!(e.contains("511") && e.contains("t.npy"), "{e}");
        let e = read_npy(&p, 512, 4).unwrap_err().to_string();
        assert!(e.contains("4x4"), "{e}");
        // Found by the npy fuzz target: a shape whose product overflows u64.
        let huge = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/npy/huge_shape.npy"
        ))
        .unwrap();
        let e = parse_npy(&p, &huge, 512, 8).unwrap_err().to_string();
        assert!(
            e.contains("4611686018427387904, 8, 8") && e.contains("more values"),
            "{e}"
        );
        // Found by the npy fuzz target: deep brackets made npyz's header parser backtrack
        // for minutes. Refused at once.
        let mut deep = b"\x93NUMPY\x01\x00\x76\x00{'descr': '<u2', 'shape': ".to_vec();
        deep.extend([b'['; 40]);
        deep.resize(128, b' ');
        let t0 = std::time::Instant::now();
        let e = parse_npy(&p, &deep, 512, 8).unwrap_err().to_string();
        assert!(e.contains("41 deep"), "{e}");
        assert!(t0.elapsed().as_secs() < 1);
        // numpy's Fortran order (np.asfortranarray): read in row-major order.
        let fortran = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tokens/fortran-2x3x4-u2.npy"
        ));
        let g = read_grids(fortran).unwrap();
        let want: Vec<u32> = (0..24).map(|i| i * 7 % 50).collect();
        assert_eq!((g.n, g.h, g.w, &g.ids), (2, 3, 4, &want));
        std::fs::write(&p, b"garbage").unwrap();
        assert!(
            read_npy(&p, 512, 2)
                .unwrap_err()
                .to_string()
                .contains("t.npy")
        );
    }
}
