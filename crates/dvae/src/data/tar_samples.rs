//! The samples of one WebDataset tar shard: consecutive members sharing a key (the member
//! path up to the first `.` of its file name) form a sample, as the `webdataset` package
//! groups them; the sample's image is its member with an image extension, its class the
//! text of a `.cls` (or `.txt`) member.

use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;

use super::image_io::IMAGE_EXTENSIONS;
use crate::error::{Error, Result};

/// One sample of a shard, its image still encoded.
#[derive(Clone, Debug)]
pub struct Sample {
    /// `SHARD:KEY`, for messages and names.
    pub name: String,
    /// The image member's extension (lower case), which says its format.
    pub ext: String,
    /// The image file's bytes.
    pub bytes: Vec<u8>,
    /// The `.cls` (or `.txt`) member's text, trimmed.
    pub class: Option<String>,
}

/// What reading a shard yields, in member order.
#[derive(Clone, Debug)]
pub enum Item {
    /// A sample with an image member.
    Sample(Sample),
    /// Something skipped: a key without an image member, a truncated archive, an empty
    /// shard; `name` says where (`SHARD:KEY` or the shard).
    Bad {
        /// Where.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// A sample being gathered: its key and members so far.
struct Group {
    key: String,
    image: Option<(String, Vec<u8>)>,
    class: Option<String>,
}

impl Group {
    fn finish(self, shard: &str) -> Item {
        let name = format!("{shard}:{}", self.key);
        match self.image {
            Some((ext, bytes)) => Item::Sample(Sample {
                name,
                ext,
                bytes,
                class: self.class,
            }),
            None => Item::Bad {
                name,
                reason: format!(
                    "no image member (expected one of .{})",
                    IMAGE_EXTENSIONS.join(", .")
                ),
            },
        }
    }
}

/// Splits a member path into WebDataset's key and extension: `dir/a.b.jpg` → (`dir/a`,
/// `b.jpg`). `None` for a name without an extension (which WebDataset also skips).
pub fn key_and_ext(path: &str) -> Option<(&str, &str)> {
    let base = path.rfind('/').map_or(0, |i| i + 1);
    let dot = path[base..].find('.')? + base;
    (dot > base).then(|| (&path[..dot], &path[dot + 1..]))
}

/// Reads the shard at `path`, calling `f` with each sample or problem in order until `f`
/// breaks. A truncated or unreadable archive ends the shard with a [`Item::Bad`] for it
/// after the samples read before the damage; a shard with no samples at all gives one
/// [`Item::Bad`]. Only failing to open the file is an error.
pub fn read_shard(path: &Path, mut f: impl FnMut(Item) -> ControlFlow<()>) -> Result<()> {
    let shard = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let bad = |reason: String| Item::Bad {
        name: shard.clone(),
        reason,
    };
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => {
            let _ = f(bad(format!("not a tar archive: {e}")));
            return Ok(());
        }
    };
    let mut group: Option<Group> = None;
    let mut emitted = 0usize;
    let mut emit = |item: Item, emitted: &mut usize| {
        *emitted += 1;
        f(item)
    };
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                if let Some(g) = group.take()
                    && emit(g.finish(&shard), &mut emitted).is_break()
                {
                    return Ok(());
                }
                let _ = emit(
                    bad(format!("damaged tar after {emitted} samples: {e}")),
                    &mut emitted,
                );
                return Ok(());
            }
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some((key, ext)) = key_and_ext(&member) else {
            continue;
        };
        let (key, ext) = (key.to_string(), ext.to_ascii_lowercase());
        let size = entry.header().size().unwrap_or(0);
        let mut bytes = Vec::with_capacity(size.min(1 << 26) as usize);
        let read = entry.read_to_end(&mut bytes);
        if read.is_err() || (bytes.len() as u64) < size {
            let _ = emit(
                bad(format!(
                    "truncated tar: member {member} has {} of its {size} bytes",
                    bytes.len()
                )),
                &mut emitted,
            );
            return Ok(());
        }
        if group.as_ref().is_some_and(|g| g.key != key)
            && let Some(g) = group.take()
            && emit(g.finish(&shard), &mut emitted).is_break()
        {
            return Ok(());
        }
        let g = group.get_or_insert(Group {
            key,
            image: None,
            class: None,
        });
        if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
            g.image.get_or_insert((ext, bytes));
        } else if ext == "cls" || (ext == "txt" && g.class.is_none()) {
            g.class = Some(String::from_utf8_lossy(&bytes).trim().to_string());
        }
    }
    if let Some(g) = group.take() {
        let _ = emit(g.finish(&shard), &mut emitted);
    } else if emitted == 0 {
        let _ = emit(bad("empty shard: no samples".into()), &mut emitted);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_end_at_the_first_dot_of_the_file_name() {
        assert_eq!(key_and_ext("a/b.c/x.seg.png"), Some(("a/b.c/x", "seg.png")));
        assert_eq!(key_and_ext("000001.jpg"), Some(("000001", "jpg")));
        assert_eq!(key_and_ext("README"), None);
        assert_eq!(key_and_ext("dir/.hidden"), None);
    }
}
