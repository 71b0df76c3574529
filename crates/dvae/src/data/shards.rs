//! Naming a sharded data set: WebDataset-style brace ranges
//! (`train-{000000..000127}.tar`), a folder of `.tar` files, or a text file listing shard
//! paths, resolved to the list of shard files.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// True when `spec` names shards rather than a folder of images: it ends in `.tar` (a
/// brace range included), is a `.txt`/`.shards` list, or is written `shards:PATH` (a
/// folder of shards is recognised when it is opened: [`is_shard_folder`]).
pub fn is_shard_spec(spec: &str) -> bool {
    let s = spec.strip_prefix("shards:").unwrap_or(spec);
    spec.starts_with("shards:") || [".tar", ".txt", ".shards"].iter().any(|x| s.ends_with(x))
}

/// The shard files `spec` names, in order:
/// - a brace pattern, each `{A..B}` a numeric range keeping `A`'s zero padding and each
///   `{x,y}` a list (`a-{000..002}.tar` → `a-000.tar`, `a-001.tar`, `a-002.tar`);
/// - a folder: its `.tar` files, sorted;
/// - a text file (`.txt`, `.shards`): one shard path a line (relative to the file's
///   folder), `#` comments and blank lines ignored.
///
/// Every named shard must exist; an empty list is an error naming `spec`.
pub fn shard_paths(spec: &str) -> Result<Vec<PathBuf>> {
    let spec = spec.strip_prefix("shards:").unwrap_or(spec);
    let path = Path::new(spec);
    let paths = if spec.contains('{') {
        expand_braces(spec)?
            .into_iter()
            .map(PathBuf::from)
            .collect()
    } else if path.is_dir() {
        let mut tars: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "tar"))
            .collect();
        tars.sort();
        tars
    } else if spec.ends_with(".tar") {
        vec![path.to_path_buf()]
    } else {
        read_list(path)?
    };
    if paths.is_empty() {
        return Err(Error::data(path, "names no shards (expected .tar files)"));
    }
    if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
        return Err(Error::data(
            missing,
            format!("shard not found (named by {spec:?})"),
        ));
    }
    Ok(paths)
}

/// True when `dir` is a folder holding `.tar` files and no images: a folder of shards.
pub fn is_shard_folder(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut tars = false;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "tar") {
            tars = true;
        } else if p.is_dir() || super::image_io::has_image_extension(&p) {
            return false;
        }
    }
    tars
}

fn read_list(path: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let base = path.parent().unwrap_or(Path::new(""));
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| base.join(l))
        .collect())
}

/// Expands every `{A..B}` (numeric, padded to `A`'s width) and `{x,y,…}` group of
/// `pattern`, leftmost group varying slowest.
pub fn expand_braces(pattern: &str) -> Result<Vec<String>> {
    let bad = |why: &str| Error::data(pattern, format!("brace pattern: {why}"));
    let Some(open) = pattern.find('{') else {
        return Ok(vec![pattern.to_string()]);
    };
    let close = pattern[open..]
        .find('}')
        .map(|i| open + i)
        .ok_or_else(|| bad("`{` without `}`"))?;
    let (head, body, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let items: Vec<String> = if let Some((a, b)) = body.split_once("..") {
        let parse = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| bad(&format!("{s:?} is not a number in {{{body}}}")))
        };
        let (lo, hi) = (parse(a)?, parse(b)?);
        if lo > hi {
            return Err(bad(&format!("range {{{body}}} runs backwards")));
        }
        if hi - lo >= 10_000_000 {
            return Err(bad(&format!(
                "range {{{body}}} has over ten million shards"
            )));
        }
        let width = a.len();
        (lo..=hi).map(|i| format!("{i:0width$}")).collect()
    } else if body.contains(',') {
        body.split(',').map(String::from).collect()
    } else {
        return Err(bad(&format!(
            "{{{body}}} is neither a range {{A..B}} nor a list {{x,y}}"
        )));
    };
    let rest = expand_braces(tail)?;
    Ok(items
        .iter()
        .flat_map(|i| rest.iter().map(move |r| format!("{head}{i}{r}")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_keep_their_padding_and_groups_nest() {
        assert_eq!(
            expand_braces("s/a-{008..011}.tar").unwrap(),
            ["s/a-008.tar", "s/a-009.tar", "s/a-010.tar", "s/a-011.tar"]
        );
        assert_eq!(
            expand_braces("{x,y}-{1..2}.tar").unwrap(),
            ["x-1.tar", "x-2.tar", "y-1.tar", "y-2.tar"]
        );
        assert_eq!(expand_braces("plain.tar").unwrap(), ["plain.tar"]);
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for (p, says) in [
            ("a-{3..1}.tar", "backwards"),
            ("a-{1..x}.tar", "not a number"),
            ("a-{1.tar", "without"),
            ("a-{1}.tar", "neither"),
        ] {
            let e = expand_braces(p).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(p), "{p}: {e}");
        }
    }

    #[test]
    fn specs_that_name_shards() {
        assert!(is_shard_spec("d/train-{0..3}.tar"));
        assert!(is_shard_spec("list.shards"));
        assert!(is_shard_spec("shards:list.txt"));
        assert!(!is_shard_spec("photos/"));
        assert!(!is_shard_spec("default"));
    }
}
