//! Class labels of a data set, for class-conditional token priors: folder names, MNIST and
//! CIFAR-10 labels, and the background kind of the embedded default images.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One class id per image, and the name of each class.
#[derive(Clone, Debug, PartialEq)]
pub struct Labels {
    /// Class of each image, in `0..names.len()`.
    pub ids: Vec<u32>,
    /// Class names, indexed by id.
    pub names: Vec<String>,
}

/// CIFAR-10's class names, in label order.
pub const CIFAR10_NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

impl Labels {
    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.names.len()
    }

    /// The id of class `name`, or of the class whose id is `name` read as a number.
    pub fn find(&self, name: &str) -> Option<u32> {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Some(i as u32);
        }
        name.parse::<u32>()
            .ok()
            .filter(|&i| (i as usize) < self.names.len())
    }

    /// Labels from byte labels (MNIST, CIFAR-10): ids as they are, names from `names` or the
    /// digits themselves; the class count covers the largest label seen.
    pub fn from_bytes(bytes: &[u8], names: Option<&[&str]>) -> Self {
        let count = bytes.iter().copied().max().map_or(0, |m| m as usize + 1);
        let count = names.map_or(count, |n| n.len().max(count));
        let names = (0..count)
            .map(|i| match names.and_then(|n| n.get(i)) {
                Some(n) => n.to_string(),
                None => i.to_string(),
            })
            .collect();
        Self {
            ids: bytes.iter().map(|&b| b as u32).collect(),
            names,
        }
    }

    /// Labels from the first folder below `root` of each file: present only when every
    /// file sits in a subfolder and there are at least two of them.
    pub fn from_folders(root: &Path, files: &[PathBuf]) -> Option<Self> {
        let first: Vec<String> = files
            .iter()
            .map(|f| {
                let rel = f.strip_prefix(root).ok()?;
                let mut parts = rel.components();
                let dir = parts.next()?;
                parts.next()?;
                Some(dir.as_os_str().to_string_lossy().to_string())
            })
            .collect::<Option<_>>()?;
        let names: Vec<String> = first
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if names.len() < 2 {
            return None;
        }
        let ids = first
            .iter()
            .map(|d| {
                names
                    .iter()
                    .position(|n| n == d)
                    .expect("name is in the set") as u32
            })
            .collect();
        Some(Self { ids, names })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_labels_need_two_subfolders() {
        let root = Path::new("/data");
        let files: Vec<PathBuf> = ["/data/cat/a.png", "/data/dog/b.png", "/data/cat/c/d.png"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let l = Labels::from_folders(root, &files).unwrap();
        assert_eq!(l.names, vec!["cat", "dog"]);
        assert_eq!(l.ids, vec![0, 1, 0]);
        assert_eq!(l.find("dog"), Some(1));
        assert_eq!(l.find("1"), Some(1));
        assert_eq!(l.find("2"), None);
        // A file at the root, or one class only: no labels.
        let loose = [files[0].clone(), PathBuf::from("/data/e.png")];
        assert!(Labels::from_folders(root, &loose).is_none());
        assert!(Labels::from_folders(root, &files[..1]).is_none());
    }

    #[test]
    fn byte_labels() {
        let l = Labels::from_bytes(&[3, 0, 3], None);
        assert_eq!(l.classes(), 4);
        assert_eq!(l.names[3], "3");
        let c = Labels::from_bytes(&[9], Some(&CIFAR10_NAMES));
        assert_eq!((c.classes(), c.names[9].as_str()), (10, "truck"));
    }
}
