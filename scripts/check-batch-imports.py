#!/usr/bin/env python3
"""List the `crate::` / `super::` imports between modules of crates/batch/src and fail on a cycle.

Checks two granularities: files (module paths such as `data::ratings`) and top-level modules
(`data`, `io`, `stages`, ...). The binary's `cli` (src/main.rs, src/cli/) imports the library as
`shopai_batch::...` and is listed on top. Usage: python3 scripts/check-batch-imports.py [-v]
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "batch", "src")
BIN = {"main.rs", "cli"}


def module_of(rel):
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def files():
    for dirpath, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".rs"):
                rel = os.path.relpath(os.path.join(dirpath, n), ROOT)
                yield rel


def main():
    verbose = "-v" in sys.argv
    mods = {}
    for rel in files():
        if rel == "lib.rs":
            continue  # only declares the modules
        if rel.split(os.sep)[0] in BIN:
            mods[rel] = ("cli",) + (module_of(rel)[1:] if rel.startswith("cli") else ())
        else:
            mods[rel] = module_of(rel)
    known = set(mods.values())

    def resolve(path):
        # longest known module prefix of `path`
        for k in range(len(path), 0, -1):
            if tuple(path[:k]) in known:
                return tuple(path[:k])
        return None

    edges = {}
    for rel, mod in mods.items():
        text = open(os.path.join(ROOT, rel), encoding="utf-8").read()
        text = re.sub(r"//[^\n]*", "", text)
        cut = text.find("#[cfg(test)]")
        parts = [(text, False)] if cut < 0 else [(text[:cut], False), (text[cut:], True)]
        prefix = "shopai_batch" if mod[0] == "cli" else "crate"
        for body, in_test in parts:
            # expand `use x::{a, b::c}` groups one level, then collect paths
            for m in re.finditer(r"\b(" + prefix + r"|super)((?:::\w+)+)(::\{([^}]*)\})?", body):
                root, path = m.group(1), [p for p in m.group(2).split("::") if p]
                if root == "super":
                    # inside a file's inline `mod tests`, `super` is the file's own module
                    base = list(mod) if in_test else list(mod[:-1])
                    if rel.endswith("mod.rs") and not in_test:
                        base = list(mod[:-1])
                    full = base + path
                else:
                    full = path
                targets = [full]
                if m.group(4):
                    targets = [full + [x.strip().split("::")[0]] for x in m.group(4).split(",") if x.strip()]
                for t in targets:
                    r = resolve(t)
                    if r and r != mod and not (r == mod[: len(r)]):
                        edges.setdefault(mod, set()).add(r)

    def cycles(graph):
        state, stack, found = {}, [], []

        def visit(n):
            state[n] = 1
            stack.append(n)
            for m in sorted(graph.get(n, ())):
                if state.get(m) == 1:
                    found.append(stack[stack.index(m):] + [m])
                elif m not in state:
                    visit(m)
            stack.pop()
            state[n] = 2

        for n in sorted(graph):
            if n not in state:
                visit(n)
        return found

    name = lambda m: "::".join(m) or "(root)"
    top = {}
    for a, bs in edges.items():
        for b in bs:
            if a[0] != b[0]:
                top.setdefault((a[0],), set()).add((b[0],))
    print("top-level module imports:")
    for a in sorted(top):
        print(f"  {name(a):12} -> {', '.join(name(b) for b in sorted(top[a]))}")
    if verbose:
        print("file imports:")
        for a in sorted(edges):
            print(f"  {name(a):26} -> {', '.join(name(b) for b in sorted(edges[a]))}")
    bad = cycles(edges) + cycles(top)
    for c in bad:
        print("CYCLE: " + " -> ".join(name(m) for m in c))
    if bad:
        sys.exit(1)
    print(f"acyclic: {len(mods)} files, {sum(len(v) for v in edges.values())} file edges, "
          f"{sum(len(v) for v in top.values())} top-level edges")


main()
