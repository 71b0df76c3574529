//! The pickle stack machine: containers, memo, globals, calls and objects.

use std::collections::HashMap;

use super::literal::{le_uint, line, literal, take};
use super::{PickleError, Result, Value, bad};

/// Nodes live in an arena so that a memoised dict or object mutated later (`SETITEMS`,
/// `BUILD`) is seen mutated wherever the memo hands it out, as in Python.
#[derive(Clone)]
enum Node {
    Leaf(Value),
    Tuple(Vec<usize>),
    List(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Call(String, usize),
    Object(String, Option<usize>),
    PersId(usize),
}

/// Deepest nesting accepted (PyTorch modules nest a handful of levels).
const MAX_DEPTH: usize = 200;

/// See [`super::load`].
pub(super) fn load(input: &mut &[u8], allow: &dyn Fn(&str) -> bool) -> Result<Value> {
    let mut m = Machine {
        nodes: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let root = m.run(input, allow)?;
    // Shared references expand when the graph becomes a tree; bound that expansion.
    let mut budget = 8 * m.nodes.len() + (1 << 16);
    m.tree(root, 0, &mut budget)
}

struct Machine {
    nodes: Vec<Node>,
    stack: Vec<usize>,
    marks: Vec<usize>,
    memo: HashMap<u32, usize>,
}

impl Machine {
    fn push(&mut self, node: Node) {
        self.nodes.push(node);
        self.stack.push(self.nodes.len() - 1);
    }

    fn pop(&mut self) -> Result<usize> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return bad("an opcode popped past a MARK");
        }
        self.stack.pop().map_or_else(|| bad("stack underflow"), Ok)
    }

    fn pop_mark(&mut self) -> Result<Vec<usize>> {
        let Some(m) = self.marks.pop() else {
            return bad("an opcode needs a MARK and there is none");
        };
        Ok(self.stack.split_off(m))
    }

    fn top(&self) -> Result<usize> {
        self.stack
            .last()
            .copied()
            .map_or_else(|| bad("stack underflow"), Ok)
    }

    fn leaf(&self, id: usize) -> Option<&Value> {
        match &self.nodes[id] {
            Node::Leaf(v) => Some(v),
            _ => None,
        }
    }

    fn global(&mut self, module: &str, name: &str, allow: &dyn Fn(&str) -> bool) -> Result<()> {
        let full = format!("{module}.{name}");
        if !allow(&full) {
            return Err(PickleError::Forbidden(full));
        }
        self.push(Node::Leaf(Value::Global(full)));
        Ok(())
    }

    fn global_name(&self, id: usize, what: &str) -> Result<String> {
        match self.leaf(id) {
            Some(Value::Global(g)) => Ok(g.clone()),
            _ => bad(format!(
                "{what} applied to something that is not a class or function"
            )),
        }
    }

    fn reduce(&mut self) -> Result<()> {
        let args = self.pop()?;
        let func = self.pop()?;
        let func = self.global_name(func, "REDUCE")?;
        let Node::Tuple(items) = self.nodes[args].clone() else {
            return bad(format!("REDUCE of {func}: arguments are not a tuple"));
        };
        let node = match func.as_str() {
            "collections.OrderedDict" => match items.as_slice() {
                [] => Node::Dict(Vec::new()),
                [pairs] => {
                    let (Node::List(p) | Node::Tuple(p)) = self.nodes[*pairs].clone() else {
                        return bad("OrderedDict argument is not a list of pairs");
                    };
                    let mut dict = Vec::new();
                    for pair in p {
                        match &self.nodes[pair] {
                            Node::Tuple(kv) | Node::List(kv) if kv.len() == 2 => {
                                dict.push((kv[0], kv[1]))
                            }
                            _ => return bad("OrderedDict item is not a (key, value) pair"),
                        }
                    }
                    Node::Dict(dict)
                }
                _ => return bad("OrderedDict takes at most one argument"),
            },
            "builtins.set" | "__builtin__.set" | "builtins.frozenset" | "__builtin__.frozenset" => {
                match items.as_slice() {
                    [] => Node::List(Vec::new()),
                    [list] => match &self.nodes[*list] {
                        Node::List(v) | Node::Tuple(v) => Node::List(v.clone()),
                        _ => return bad("set argument is not a list"),
                    },
                    _ => return bad("set takes at most one argument"),
                }
            }
            _ => Node::Call(func, args),
        };
        self.push(node);
        Ok(())
    }

    fn run(&mut self, input: &mut &[u8], allow: &dyn Fn(&str) -> bool) -> Result<usize> {
        loop {
            let op = take(input, 1)?[0];
            if let Some(v) = literal(op, input)? {
                self.push(Node::Leaf(v));
                continue;
            }
            match op {
                0x80 => {
                    let proto = take(input, 1)?[0];
                    if proto > 5 {
                        return bad(format!("pickle protocol {proto} is newer than 5"));
                    }
                }
                0x95 => drop(take(input, 8)?), // FRAME: a length hint only
                b'.' => return self.pop(),     // STOP
                b'(' => self.marks.push(self.stack.len()),
                b'0' => drop(self.pop()?),
                b'1' => drop(self.pop_mark()?),
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                b')' => self.push(Node::Tuple(Vec::new())),
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Node::Tuple(items));
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Node::Tuple(items));
                }
                b']' | 0x8f => self.push(Node::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Node::List(items));
                }
                b'}' => self.push(Node::Dict(Vec::new())),
                b'a' | b'e' | 0x90 => {
                    let items = if op == b'a' {
                        vec![self.pop()?]
                    } else {
                        self.pop_mark()?
                    };
                    let target = self.top()?;
                    match &mut self.nodes[target] {
                        Node::List(list) => list.extend(items),
                        _ => return bad("APPEND/ADDITEMS on something that is not a list or set"),
                    }
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Node::List(items));
                }
                b's' | b'u' | b'd' => {
                    let items = if op == b's' {
                        let v = self.pop()?;
                        let k = self.pop()?;
                        vec![k, v]
                    } else {
                        self.pop_mark()?
                    };
                    if items.len() % 2 != 0 {
                        return bad("SETITEMS with an odd number of items");
                    }
                    let pairs = items.chunks(2).map(|kv| (kv[0], kv[1]));
                    if op == b'd' {
                        let dict = pairs.collect();
                        self.push(Node::Dict(dict));
                    } else {
                        let target = self.top()?;
                        match &mut self.nodes[target] {
                            Node::Dict(dict) => dict.extend(pairs),
                            _ => return bad("SETITEM(S) on something that is not a dict"),
                        }
                    }
                }
                b'q' | b'r' | 0x94 | b'p' => {
                    let idx = match op {
                        b'q' => take(input, 1)?[0] as u32,
                        b'r' => le_uint(take(input, 4)?) as u32,
                        0x94 => self.memo.len() as u32,
                        _ => line(input)?
                            .trim()
                            .parse()
                            .map_or_else(|_| bad("PUT index is not a number"), Ok)?,
                    };
                    let top = self.top()?;
                    self.memo.insert(idx, top);
                }
                b'h' | b'j' | b'g' => {
                    let idx = match op {
                        b'h' => take(input, 1)?[0] as u32,
                        b'j' => le_uint(take(input, 4)?) as u32,
                        _ => line(input)?
                            .trim()
                            .parse()
                            .map_or_else(|_| bad("GET index is not a number"), Ok)?,
                    };
                    let Some(&id) = self.memo.get(&idx) else {
                        return bad(format!("memo entry {idx} is read before it is written"));
                    };
                    self.stack.push(id);
                }
                b'c' => {
                    let module = line(input)?;
                    let name = line(input)?;
                    self.global(&module, &name, allow)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (self.leaf(module), self.leaf(name)) {
                        (Some(Value::Str(m)), Some(Value::Str(n))) => {
                            let (m, n) = (m.clone(), n.clone());
                            self.global(&m, &n, allow)?;
                        }
                        _ => return bad("STACK_GLOBAL needs two strings"),
                    }
                }
                b'R' => self.reduce()?,
                0x81 => {
                    let _args = self.pop()?;
                    let class = self.pop()?;
                    let class = self.global_name(class, "NEWOBJ")?;
                    self.push(Node::Object(class, None));
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    match &mut self.nodes[target] {
                        Node::Object(_, slot) => *slot = Some(state),
                        _ => return bad("BUILD on something that is not an object"),
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    // PyTorch's legacy format refers to a module's class as the persistent
                    // id `('module', class, source_file, source)`; it stands for the class.
                    match &self.nodes[pid] {
                        Node::Tuple(t)
                            if t.len() == 4
                                && self.leaf(t[0]) == Some(&Value::Str("module".into()))
                                && matches!(self.leaf(t[1]), Some(Value::Global(_))) =>
                        {
                            self.stack.push(t[1]);
                        }
                        _ => self.push(Node::PersId(pid)),
                    }
                }
                other => {
                    return bad(format!(
                        "unsupported pickle opcode 0x{other:02x} ({:?})",
                        other as char
                    ));
                }
            }
        }
    }

    fn tree(&self, id: usize, depth: usize, budget: &mut usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return bad(format!("values nest deeper than {MAX_DEPTH} levels"));
        }
        if *budget == 0 {
            return bad("shared references expand to too many values");
        }
        *budget -= 1;
        let mut sub = |i: usize| self.tree(i, depth + 1, budget);
        Ok(match &self.nodes[id] {
            Node::Leaf(v) => v.clone(),
            Node::Tuple(items) => {
                Value::Tuple(items.iter().map(|&i| sub(i)).collect::<Result<_>>()?)
            }
            Node::List(items) => Value::List(items.iter().map(|&i| sub(i)).collect::<Result<_>>()?),
            Node::Dict(items) => Value::Dict(
                items
                    .iter()
                    .map(|&(k, v)| Ok((sub(k)?, sub(v)?)))
                    .collect::<Result<_>>()?,
            ),
            Node::Call(func, args) => match sub(*args)? {
                Value::Tuple(args) => Value::Call {
                    func: func.clone(),
                    args,
                },
                _ => return bad("call arguments are not a tuple"),
            },
            Node::Object(class, state) => Value::Object {
                class: class.clone(),
                state: state.map(sub).transpose()?.map(Box::new),
            },
            Node::PersId(pid) => Value::PersId(Box::new(sub(*pid)?)),
        })
    }
}
