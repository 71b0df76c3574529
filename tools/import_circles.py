#!/usr/bin/env python3
"""Import graph of a crate's modules (files) from `use crate::…`, `super::…` and `crate::…` paths;
prints strongly connected components of more than one file (import circles). A parent
module declaring its children is not an import.

    python3 tools/import_circles.py [crates/dvae/src]
"""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else "crates/dvae/src"
files = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith(".rs"):
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)[:-3]
            parts = rel.split(os.sep)
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            files[tuple(parts)] = p
mods = set(files)
def resolve(path):
    # longest prefix that is a module file
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in mods:
            return tuple(path[:n])
    return None
edges = {m: set() for m in mods}
for m, p in files.items():
    src = open(p).read()
    # drop #[cfg(test)] modules crudely
    src = src.split("#[cfg(test)]")[0]
    src = re.sub(r"//[^\n]*", "", src)
    for um in re.finditer(r"\buse\s+([^;]+);", src):
        text = um.group(1)
        # expand brace groups one level
        def expand(prefix, body):
            out = []
            depth = 0; cur = ""
            for ch in body:
                if ch == "{": depth += 1
                if ch == "}": depth -= 1
                if ch == "," and depth == 0:
                    out.append(cur); cur = ""
                else:
                    cur += ch
            out.append(cur)
            res = []
            for o in out:
                o = o.strip()
                mm = re.match(r"^([\w:]*?)::\{(.*)\}$", o, re.S)
                if mm:
                    res += expand(prefix + mm.group(1).split("::"), mm.group(2))
                elif o:
                    res.append(prefix + [x for x in o.split(" as ")[0].split("::") if x])
            return res
        for path in expand([], text):
            if not path: continue
            base = list(m)
            if path[0] == "crate": full = path[1:]
            elif path[0] == "super":
                cur = list(m) if files[m].endswith("mod.rs") else list(m)[:-1]
                # `super` from a file module = parent of the file's module
                cur = list(m)[:-1]
                i = 0
                while i < len(path) and path[i] == "super":
                    i += 1
                    if i > 1: cur = cur[:-1]
                full = cur + path[i:]
            elif path[0] == "self": full = list(m) + path[1:]
            else:
                # a child module name?
                if tuple(list(m) + [path[0]]) in mods: full = list(m) + path
                else: continue
            t = resolve(full)
            if t and t != m and not (len(t) < len(m) and m[:len(t)] == t and len(t) == 0):
                edges[m].add(t)
    for cm in re.finditer(r"\bcrate::([\w:]+)", src):
        t = resolve(cm.group(1).split("::"))
        if t and t != m: edges[m].add(t)
# a parent module (mod.rs) declaring children is not an import; children using parent items is.
# Tarjan
idx = {}; low = {}; st = []; on = set(); sccs = []; c = [0]
sys.setrecursionlimit(10000)
def strong(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in edges[v]:
        if w not in idx: strong(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(comp)
for v in mods:
    if v not in idx: strong(v)
circles = [s for s in sccs if len(s) > 1]
for s in circles:
    print(len(s), "files:", ", ".join("/".join(x) or "lib" for x in sorted(s)))
print(f"{len(circles)} import circles among {len(mods)} files")
