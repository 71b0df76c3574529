//! A Python pickle reader that builds a value tree and never executes anything.
//!
//! A pickle is a program for a small stack machine; loading it in Python calls whatever
//! `GLOBAL` names (`os.system` included). Here every `GLOBAL` is checked against the
//! caller's allow-list before anything else happens, and a call (`REDUCE`, `NEWOBJ`) is only
//! recorded as a [`Value::Call`] or [`Value::Object`] for the caller to interpret. The pure
//! constructors `collections.OrderedDict`, `set` and `frozenset` become dicts and lists.
//!
//! Crates on crates.io were looked at first: `serde-pickle` has no persistent ids
//! (`BINPERSID`, which PyTorch uses for every tensor storage) and drops the class of a
//! `NEWOBJ`; `pytorch-reader` (Burn's) turns a pickled module into its state dict, dropping
//! the attributes that hold the architecture (`n_hid`, `vocab_size`, …), and keeps unknown
//! calls as opaque values rather than refusing them.

/// A value read from a pickle.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// A wider integer: its little-endian two's-complement bytes (as `LONG1` stores them).
    BigInt(Vec<u8>),
    /// A float.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes` (or Python 2 `str`).
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list, set or frozenset.
    List(Vec<Value>),
    /// A dict or `OrderedDict`, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// An allowed global (a class or function), as `module.name`.
    Global(String),
    /// `REDUCE`: the allowed function `func` applied to `args` (not called).
    Call {
        /// `module.name` of the function or class.
        func: String,
        /// Its positional arguments.
        args: Vec<Value>,
    },
    /// `NEWOBJ` of the allowed class `class`, with the state a later `BUILD` gave it.
    Object {
        /// `module.name` of the class.
        class: String,
        /// The state (usually the instance `__dict__`), `None` before/without `BUILD`.
        state: Option<Box<Value>>,
    },
    /// A persistent id (`BINPERSID`), resolved by the container (PyTorch: a storage).
    PersId(Box<Value>),
}

impl Value {
    /// The entries of a dict whose keys are strings (an instance `__dict__`, say).
    pub fn str_dict(&self) -> Option<impl Iterator<Item = (&str, &Value)>> {
        match self {
            Value::Dict(items) => Some(items.iter().filter_map(|(k, v)| match k {
                Value::Str(s) => Some((s.as_str(), v)),
                _ => None,
            })),
            _ => None,
        }
    }

    /// The value under the string key `key` of a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.str_dict()?.find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// Why a pickle could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum PickleError {
    /// The pickle names a global outside the allow-list.
    Forbidden(String),
    /// The bytes are not a pickle this reader understands.
    Malformed(String),
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PickleError::Forbidden(g) => write!(
                f,
                "refusing to load: the pickle refers to `{g}`, which is not one of the PyTorch \
                 or dall_e globals this reader allows (loading it in Python could run it)"
            ),
            PickleError::Malformed(why) => write!(f, "not a readable pickle: {why}"),
        }
    }
}

type Result<T> = std::result::Result<T, PickleError>;

fn bad<T>(why: impl Into<String>) -> Result<T> {
    Err(PickleError::Malformed(why.into()))
}

mod literal;
mod machine;

/// Reads one pickle from the front of `input`, advancing it past `STOP`. `allow` decides,
/// for each `module.name` the pickle refers to, whether it may appear at all.
pub fn load(input: &mut &[u8], allow: &dyn Fn(&str) -> bool) -> Result<Value> {
    machine::load(input, allow)
}
