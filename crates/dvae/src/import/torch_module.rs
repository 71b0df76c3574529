//! A pickled `torch.nn.Module` (what `torch.save(module)` writes), as a tree.
//!
//! Python pickles a module as `NEWOBJ` of its class followed by `BUILD` with its instance
//! `__dict__`: plain attributes (dall_e's `n_hid`, `vocab_size`, …), `_parameters`,
//! `_buffers`, `_non_persistent_buffers_set` and `_modules` (the children, pickled the same
//! way), plus hook tables that are not needed here.

use super::pickle::Value;
use super::torch_tensor::describe;

/// One module of a pickled network.
#[derive(Debug)]
pub struct PickledModule {
    /// `module.Class`, e.g. `dall_e.encoder.Encoder`.
    pub class: String,
    /// Public attributes (names not starting with `_`), e.g. `n_hid` → `Int(256)`.
    pub fields: Vec<(String, Value)>,
    /// Parameters and persistent buffers: name → the pickled tensor (see `TorchFile::tensor`).
    pub tensors: Vec<(String, Value)>,
    /// Child modules in registration order.
    pub children: Vec<(String, PickledModule)>,
}

fn table<'a>(
    state: &'a Value,
    name: &str,
    class: &str,
) -> Result<Vec<(&'a str, &'a Value)>, String> {
    match state.get(name) {
        Some(t) => t
            .str_dict()
            .map(|it| it.collect())
            .ok_or_else(|| format!("{class}.{name} is not a dict")),
        None => Err(format!(
            "{class} has no {name}: not a pickled torch.nn.Module"
        )),
    }
}

impl PickledModule {
    /// Reads a module from its pickled value; the error says what was found instead.
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let Value::Object {
            class,
            state: Some(state),
        } = v
        else {
            return Err(format!(
                "expected a pickled torch.nn.Module, found {}",
                describe(v)
            ));
        };
        let non_persistent: Vec<&str> = match state.get("_non_persistent_buffers_set") {
            Some(Value::List(names)) => names
                .iter()
                .filter_map(|n| match n {
                    Value::Str(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut tensors = Vec::new();
        for (name, t) in table(state, "_parameters", class)? {
            if *t != Value::None {
                tensors.push((name.to_string(), t.clone()));
            }
        }
        for (name, t) in table(state, "_buffers", class)? {
            if *t != Value::None && !non_persistent.contains(&name) {
                tensors.push((name.to_string(), t.clone()));
            }
        }
        let mut children = Vec::new();
        for (name, child) in table(state, "_modules", class)? {
            if *child != Value::None {
                let child = Self::from_value(child).map_err(|e| format!("{name}: {e}"))?;
                children.push((name.to_string(), child));
            }
        }
        let fields = state
            .str_dict()
            .ok_or_else(|| format!("{class}: its state is not a dict"))?
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Ok(Self {
            class: class.clone(),
            fields,
            tensors,
            children,
        })
    }

    /// The attribute `name`.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The integer attribute `name`, or an error naming the class and the field.
    pub fn int_field(&self, name: &str) -> Result<usize, String> {
        match self.field(name) {
            Some(Value::Int(i)) if *i >= 0 => Ok(*i as usize),
            Some(other) => Err(format!(
                "{}.{name} is {}, expected a non-negative integer",
                self.class,
                describe(other)
            )),
            None => Err(format!("{} has no attribute {name}", self.class)),
        }
    }

    /// The child module at the dotted `path` (`blocks.group_1`).
    pub fn child(&self, path: &str) -> Option<&PickledModule> {
        path.split('.').try_fold(self, |m, name| {
            m.children.iter().find(|(k, _)| k == name).map(|(_, c)| c)
        })
    }

    /// Every parameter and persistent buffer under dotted names, as `state_dict()` names
    /// them (`blocks.group_1.block_1.res_path.conv_1.w`).
    pub fn state_dict(&self) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        self.collect("", &mut out);
        out
    }

    fn collect<'a>(&'a self, prefix: &str, out: &mut Vec<(String, &'a Value)>) {
        for (name, t) in &self.tensors {
            out.push((format!("{prefix}{name}"), t));
        }
        for (name, child) in &self.children {
            child.collect(&format!("{prefix}{name}."), out);
        }
    }
}
