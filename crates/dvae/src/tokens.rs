//! Token grids on disk: `.npy` arrays of shape `[N, h, w]` (u16, or i32 for K > 65536 —
//! not produced today), readable with `numpy.load`.

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
    crate::artifact::write_bytes_atomic(path, &buf)
}

/// Reads an `.npy` of integer tokens with shape `[N, h, w]` (or `[h, w]` for one image),
/// checking every id is below `vocab_size` and the grid is `grid`×`grid`.
pub fn read_npy(path: &Path, vocab_size: usize, grid: usize) -> Result<TokenGrids> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(path, &bytes, vocab_size, grid)
}

/// [`read_npy`] on the bytes of a file held in memory; `path` is used in messages.
pub fn parse_npy(path: &Path, bytes: &[u8], vocab_size: usize, grid: usize) -> Result<TokenGrids> {
    let bad = |reason: String| Error::data(path, reason);
    // npyz multiplies the header's dimensions unchecked: a shape whose product overflows
    // would wrap (a huge N read as an empty file). Every value takes at least a byte, so a
    // shape holding more values than the file has bytes is refused first.
    if let Some(dims) = header_shape(bytes) {
        let values = dims
            .iter()
            .try_fold(1u64, |acc, d| d.parse::<u64>().ok()?.checked_mul(acc));
        if values.is_none_or(|v| v > bytes.len() as u64) {
            return Err(bad(format!(
                "header shape ({}) holds more values than the file's {} bytes",
                dims.join(", "),
                bytes.len()
            )));
        }
    }
    let npy =
        npyz::NpyFile::new(bytes).map_err(|e| bad(format!("not a readable .npy file: {e}")))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let (n, h, w) = match shape.as_slice() {
        [n, h, w] => (*n, *h, *w),
        [h, w] => (1, *h, *w),
        other => {
            return Err(bad(format!(
                "expected shape [N, {grid}, {grid}], got {other:?}"
            )));
        }
    };
    if (h, w) != (grid, grid) {
        return Err(bad(format!(
            "expected {grid}x{grid} token grids for this model, got {h}x{w}"
        )));
    }
    if npy.order() != npyz::Order::C {
        return Err(bad(
            "Fortran-ordered arrays are not supported; save with C order".into(),
        ));
    }
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
    if let Some((i, &t)) = ids
        .iter()
        .enumerate()
        .find(|(_, t)| **t < 0 || **t >= vocab_size as i64)
    {
        return Err(bad(format!(
            "token id {t} at image {}, cell {} is outside 0..{vocab_size} (the model's vocab_size)",
            i / (h * w),
            i % (h * w)
        )));
    }
    Ok(TokenGrids {
        n,
        h,
        w,
        ids: ids.into_iter().map(|t| t as u32).collect(),
    })
}

/// The dimensions written in an `.npy` header's `'shape': (…)` entry, as text (`L`
/// suffixes of Python 2 dropped); `None` where there is no such entry or one dimension is
/// not a string of digits (npyz then reports the header as unreadable).
fn header_shape(bytes: &[u8]) -> Option<Vec<String>> {
    let end = bytes.len().min(10 + u16::MAX as usize + 2);
    let text = std::str::from_utf8(bytes.get(8..end)?)
        .or_else(|e| std::str::from_utf8(&bytes[8..8 + e.valid_up_to()]))
        .ok()?;
    let after = &text[text.find("shape")? + "shape".len()..];
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
        std::fs::write(&p, b"garbage").unwrap();
        assert!(
            read_npy(&p, 512, 2)
                .unwrap_err()
                .to_string()
                .contains("t.npy")
        );
    }
}
