#!/usr/bin/env python3
"""Structure figures for a Rust source tree (python3, standard library only).

Usage: scripts/measure-structure.py [DIR]        (DIR defaults to `src`)

Prints
  (a) the top-level module graph: edges with reference counts, cycles (strongly connected
      components of more than one module) and the edges that break the layer model below,
      plus references into another area's `db` module;
  (b) the 10 longest `fn` items (methods and async fns included), in lines from the `fn` line
      to the closing brace;
  (c) sqlx queries per file: runtime-checked calls vs compile-time macros, and `select *`.

The module graph uses the same rules as tests/architecture.rs: `use crate::...` trees
(grouped ones included), inline `crate::`/`super::`/`self::` paths, and `name::...` where
`name` is a lower-case binding brought in by such a `use`. Layers, bottom to top:
infrastructure (any module not named below) < regions < accounts < catalog < orders <
payments < tallies = audit < workflows < top (startup, cli, seed, jobs, lib, main).
"""

import os
import re
import sys
from collections import defaultdict

AREAS = {"regions": 1, "accounts": 2, "catalog": 3, "orders": 4, "payments": 5, "tallies": 6, "audit": 6}
WORKFLOWS = "workflows"
TOP = {"startup", "cli", "seed", "jobs", "lib", "main"}


def rank(m):
    """Infrastructure 0, areas 1..6, workflows 100, top 1000."""
    return AREAS.get(m, 100 if m == WORKFLOWS else 1000 if m in TOP else 0)


def layer_name(m):
    r = rank(m)
    return {0: "infrastructure", 100: "workflows", 1000: "top"}.get(r, f"area {r}")


# ---- lexing ---------------------------------------------------------------------------------

WORD = re.compile(r"[A-Za-z0-9_]+")
STRING_START = re.compile(r'(b|c)?(r(#*))?"')


def lex(src):
    """Tokens [(text, line)] of identifiers, `::` and punctuation; string literal contents
    [(text, line)]; and the source with comments, strings and char literals blanked out
    (newlines kept, so offsets and line numbers still match)."""
    toks, strings, blank = [], [], list(src)
    i, line, n = 0, 1, len(src)

    def wipe(a, b):
        for k in range(a, b):
            if blank[k] != "\n":
                blank[k] = " "

    while i < n:
        ch = src[i]
        end, keep = None, False
        if src.startswith("//", i):
            end = src.find("\n", i)
            end = n if end < 0 else end
        elif src.startswith("/*", i):
            depth, end = 0, i
            while end < n:
                if src.startswith("/*", end):
                    depth, end = depth + 1, end + 2
                elif src.startswith("*/", end):
                    depth, end = depth - 1, end + 2
                    if depth == 0:
                        break
                else:
                    end += 1
        elif m := STRING_START.match(src, i):
            body = m.end()
            if m.group(2):  # raw string: ends at `"` plus the same number of `#`
                close = '"' + m.group(3)
                end = src.find(close, body)
                end = n if end < 0 else end + len(close)
                content_end = end - len(close)
            else:
                end = body
                while end < n and src[end] != '"':
                    end += 2 if src[end] == "\\" else 1
                content_end, end = end, min(end + 1, n)
            strings.append((src[body:content_end], line))
        elif src.startswith("'\\", i):
            end = src.find("'", i + 3)
            end = n if end < 0 else end + 1
        elif ch == "'" and i + 2 < n and src[i + 2] == "'":
            end = i + 3
        elif m := WORD.match(src, i):
            end, keep = m.end(), True
        else:
            end = i + (2 if src.startswith("::", i) else 1)
            keep = not ch.isspace()
        if keep:
            toks.append((src[i:end], line))
        elif not ch.isspace():
            wipe(i, end)
        line += src.count("\n", i, end)
        i = end
    return toks, strings, "".join(blank)


def is_ident(t):
    return bool(t) and (t[0].isalpha() or t[0] == "_")


# ---- (a) module graph -------------------------------------------------------------------------


def use_tree(toks, i, path, out):
    """Parses one use tree at toks[i]; appends (segments, line, bound name) leaves."""
    while i < len(toks):
        t = toks[i][0]
        if t == "::":
            i += 1
        elif t == "*":
            out.append((path + ["*"], toks[i][1], None))
            return i + 1
        elif t == "{":
            i += 1
            while i < len(toks) and toks[i][0] != "}":
                i = use_tree(toks, i, list(path), out)
                if i < len(toks) and toks[i][0] == ",":
                    i += 1
            return i + 1
        elif is_ident(t):
            path = path + [t]
            i += 1
            if i < len(toks) and toks[i][0] == "::":
                continue
            line = toks[i - 1][1]
            if path[-1] == "self":
                path.pop()
            bound = path[-1] if path else None
            if i + 1 < len(toks) and toks[i][0] == "as":
                bound, i = toks[i + 1][0], i + 2
            out.append((path, line, bound))
            return i
        else:
            return i
    return i


def scan_paths(toks, file_module):
    """All `use` leaves and all inline paths of two or more segments: (segs, line, module, bound)."""
    out, module, open_mods, depth, i = [], list(file_module), [], 0, 0
    tok = lambda k: toks[k][0] if k < len(toks) else ""
    while i < len(toks):
        t = toks[i][0]
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if open_mods and open_mods[-1] == depth:
                open_mods.pop()
                module.pop()
        elif t == "mod" and is_ident(tok(i + 1)) and tok(i + 2) == "{":
            module.append(tok(i + 1))
            open_mods.append(depth)
            i += 2
            continue
        elif t == "use":
            leaves = []
            i = use_tree(toks, i + 1, [], leaves)
            out += [(segs, line, list(module), bound) for segs, line, bound in leaves]
            continue
        elif is_ident(t) and tok(i + 1) == "::" and is_ident(tok(i + 2)) and (i == 0 or tok(i - 1) != "::"):
            segs, line = [t], toks[i][1]
            while tok(i + 1) == "::" and is_ident(tok(i + 2)):
                segs.append(tok(i + 2))
                i += 2
            out.append((segs, line, list(module), None))
        i += 1
    return out


def module_of(rel):
    """`accounts/db.rs` -> [accounts, db]; `x/mod.rs` -> [x]; lib.rs, main.rs -> []."""
    parts = rel[: -len(".rs")].split("/")
    if parts[-1] == "mod" or rel in ("lib.rs", "main.rs"):
        parts.pop()
    return parts


def top_of(rel):
    return rel.split("/")[0].removesuffix(".rs")


def resolve(segs, module, crate_name, bindings):
    first = segs[0]
    if first in ("crate", crate_name):
        return segs[1:]
    if first == "self":
        return module + segs[1:]
    if first == "super":
        n = next(k for k, s in enumerate(segs + [""]) if s != "super")
        return module[: len(module) - n] + segs[n:] if n <= len(module) else None
    if first[0].islower() and first in bindings:
        return bindings[first] + segs[1:]
    return None


def references(files, crate_name):
    """[(rel, line, written, target)] for every path into the crate."""
    refs = []
    for rel, (toks, _, _) in files.items():
        raw = scan_paths(toks, module_of(rel))
        bindings = {}
        for segs, line, module, bound in raw:
            target = resolve(segs, module, crate_name, {}) if bound else None
            if target is not None:
                bindings[bound] = target
        for segs, line, module, bound in raw:
            target = resolve(segs, module, crate_name, bindings)
            if target is not None:
                refs.append((rel, line, "::".join(segs), target))
    return refs


def strongly_connected(nodes, succ):
    """Tarjan's algorithm; returns the components as sorted lists."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(succ.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return comps


def module_graph(files, crate_name, show):
    tops = {top_of(rel) for rel in files}
    refs = references(files, crate_name)
    edges = defaultdict(list)
    foreign_db = defaultdict(list)
    for rel, line, written, target in refs:
        src = top_of(rel)
        dst = target[0] if target and target[0] in tops else "lib"
        if src != dst:
            edges[(src, dst)].append((rel, line, written))
            if dst in AREAS and len(target) > 1 and target[1] == "db":
                foreign_db[(src, dst)].append((rel, line, written))

    print(f"## (a) top-level module graph ({len(tops)} modules, {len(refs)} crate references)")
    print()
    print("edges (from -> to: references):")
    for (a, b), rs in sorted(edges.items()):
        print(f"  {a:>10} -> {b:<10} {len(rs):>4}")
    print()
    succ = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)
    cycles = [c for c in strongly_connected(tops, succ) if len(c) > 1]
    print(f"cycles (strongly connected components of more than one module): {len(cycles)}")
    for c in cycles:
        inner = sum(len(rs) for (a, b), rs in edges.items() if a in c and b in c)
        print(f"  {{{', '.join(c)}}}  ({len(c)} modules, {inner} references among them)")
    print()
    upward = []
    for (a, b), rs in sorted(edges.items()):
        ra, rb = rank(a), rank(b)
        if (ra == 0 and rb > 0) or (0 < ra < 1000 and rb >= ra):
            upward.append((a, b, rs))
    print(f"upward edges under the layer model: {len(upward)} edges, {sum(len(rs) for _, _, rs in upward)} references")
    for a, b, rs in upward:
        rel, line, written = rs[0]
        print(f"  {a} ({layer_name(a)}) -> {b} ({layer_name(b)}): {len(rs)}, e.g. {show(rel)}:{line} {written}")
    print()
    total = sum(len(rs) for rs in foreign_db.values())
    print(f"references into another area's db module: {total}")
    for (a, b), rs in sorted(foreign_db.items()):
        rel, line, written = rs[0]
        print(f"  {a} -> {b}::db: {len(rs)}, e.g. {show(rel)}:{line} {written}")
    print()


# ---- (b) longest functions -------------------------------------------------------------------


def impl_name(toks, i, j):
    """The type named by the `impl`/`trait` header toks[i:j]: `impl<T> Tr<T> for a::Ty<T>` -> Ty."""
    names, depth, prev = [], 0, ""
    for t, _ in toks[i + 1 : j]:
        if t == "<":
            depth += 1
        elif t == ">" and prev != "-":
            depth -= 1
        elif depth == 0 and t == "where":
            break
        elif depth == 0 and t == "for":
            names = []
        elif depth == 0 and is_ident(t) and t not in ("dyn", "mut", "unsafe", "const"):
            names.append(t)
        prev = t
    return names[-1] if names else "?"


def longest_functions(files, show, count=10):
    found = []
    for rel, (toks, _, _) in files.items():
        match, stack = {}, []
        for k, (t, _) in enumerate(toks):
            if t == "{":
                stack.append(k)
            elif t == "}" and stack:
                match[stack.pop()] = k

        def body(k):
            """Index of the `{` opening the item at toks[k], or None if it ends with `;` first."""
            depth = 0
            for m in range(k, len(toks)):
                t = toks[m][0]
                depth += (t in "([") - (t in ")]")
                if depth == 0 and t in ("{", ";"):
                    return m if t == "{" else None
            return None

        owners = []  # (open brace, close brace, type name) of impl and trait blocks
        for k, (t, _) in enumerate(toks):
            prev = toks[k - 1][0] if k else ""
            if t in ("impl", "trait") and prev in ("", "}", ";", "]", "{", "unsafe", "pub", "default", ")"):
                b = body(k)
                if b in match:
                    owners.append((b, match[b], impl_name(toks, k, b)))
        for k, (t, line) in enumerate(toks):
            if t != "fn" or k + 1 >= len(toks) or not is_ident(toks[k + 1][0]):
                continue
            b = body(k)
            if b not in match:
                continue
            name = toks[k + 1][0]
            owner = [o for o in owners if o[0] < k < o[1]]
            if owner:
                name = max(owner)[2] + "::" + name
            found.append((toks[match[b]][1] - line + 1, show(rel), line, name))
    found.sort(key=lambda f: (-f[0], f[1], f[2]))
    print(f"## (b) the {count} longest functions (lines from `fn` to its closing brace; {len(found)} fns in all)")
    print()
    for length, path, line, name in found[:count]:
        print(f"  {length:>4}  {path}:{line}  {name}")
    print()


# ---- (c) sqlx queries ------------------------------------------------------------------------

RUNTIME = re.compile(
    r"\bsqlx::(query|query_as|query_scalar)\s*\(|\b(query_as|query_scalar)::<|\bQueryBuilder\b(::<[^>]*>)?::\w+\s*\("
)
MACRO = re.compile(r"\b(query|query_as|query_scalar)!\s*\(")
SELECT_STAR = re.compile(r"\bselect\s+\*", re.IGNORECASE)


def sqlx_queries(files, show):
    rows = []
    for rel, (_, strings, blank) in files.items():
        runtime, macro = len(RUNTIME.findall(blank)), len(MACRO.findall(blank))
        star = sum(len(SELECT_STAR.findall(s)) for s, _ in strings)
        if runtime or macro or star:
            rows.append((show(rel), runtime, macro, star))
    print("## (c) sqlx queries")
    print("   runtime: sqlx::query( sqlx::query_as( sqlx::query_scalar( query_as::< query_scalar::< QueryBuilder::new(")
    print("   macros:  query!( query_as!( query_scalar!(      select *: in string literals, any case")
    print()
    width = max([len(r[0]) for r in rows] + [5])
    print(f"  {'file':<{width}}  runtime  macros  select *")
    for path, runtime, macro, star in sorted(rows):
        print(f"  {path:<{width}}  {runtime:>7}  {macro:>6}  {star:>8}")
    totals = [sum(r[k] for r in rows) for k in (1, 2, 3)]
    print(f"  {'total':<{width}}  {totals[0]:>7}  {totals[1]:>6}  {totals[2]:>8}")


def crate_name_for(root):
    try:
        with open(os.path.join(root, "..", "Cargo.toml"), encoding="utf-8") as f:
            m = re.search(r'^name\s*=\s*"([^"]+)"', f.read(), re.MULTILINE)
            return m.group(1).replace("-", "_") if m else "crate"
    except OSError:
        return "crate"


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "src"
    if not os.path.isdir(root):
        sys.exit(f"usage: {sys.argv[0]} [DIR]  (no directory {root!r})")
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".rs"):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                with open(path, encoding="utf-8") as f:
                    files[rel] = lex(f.read())
    label = os.path.basename(os.path.normpath(root))
    show = lambda rel: f"{label}/{rel}"
    lines = sum(blank.count("\n") for _, _, blank in files.values())
    print(f"# structure of {label}/: {len(files)} .rs files, {lines} lines")
    print()
    module_graph(files, crate_name_for(root), show)
    longest_functions(files, show)
    sqlx_queries(files, show)


if __name__ == "__main__":
    main()
