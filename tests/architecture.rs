//! Architecture test: the module graph of `src/` must stay one-way.
//!
//! Every `src/**/*.rs` file is scanned for paths into the crate: `use crate::...` (including
//! grouped `use crate::{a, b::c}` trees), inline paths such as `crate::catalog::set_active(..)`,
//! `super::`/`self::` paths resolved against the file's module (inline `mod x { }` blocks
//! included), and `name::...` where `name` is a lower-case binding brought in by such a `use`
//! (so `use crate::accounts;` followed by `accounts::db::find(..)` counts as reaching
//! `crate::accounts::db`). Comments, strings and char literals are skipped.
//!
//! Layers, bottom to top: infrastructure (every top-level module not named below), the areas
//! `regions < accounts < catalog < orders < payments < tallies = audit`, then `workflows`, then
//! the top modules (`startup`, `cli`, `seed`, `jobs`, `lib`, `main`). The test asserts:
//! 1. no cycle among top-level modules;
//! 2. infrastructure uses no area, no `workflows` and no top module;
//! 3. an area uses only infrastructure and areas strictly below it; nothing uses `workflows`
//!    except top modules, and nothing but top modules uses a top module;
//! 4. nothing outside an area reaches into that area's `db` module;
//! 5. within an area folder, the files other than `mod.rs` import each other without cycles
//!    (an edge is `super::x` or `crate::<area>::x` where `src/<area>/x.rs` or `x/` exists).
//!
//! Why: payments, tallies and audit are to be added as new areas on top of orders. That only
//! stays cheap if every edge points down, so a new area can be written against the ones below
//! without the lower ones ever needing to know about it. Run with `--nocapture` to see the graph.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

const AREAS: &[(&str, u32)] =
    &[("regions", 1), ("accounts", 2), ("catalog", 3), ("orders", 4), ("payments", 5), ("tallies", 6), ("audit", 6)];
const WORKFLOWS: &str = "workflows";
const TOP: &[&str] = &["startup", "cli", "seed", "jobs", "lib", "main"];

/// Rank of a top-level module: infrastructure 0, areas 1..=6, workflows 100, top 1000.
fn rank(m: &str) -> u32 {
    match AREAS.iter().find(|(a, _)| *a == m) {
        Some((_, level)) => *level,
        None if m == WORKFLOWS => 100,
        None if TOP.contains(&m) => 1000,
        None => 0,
    }
}

fn is_area(m: &str) -> bool {
    AREAS.iter().any(|(a, _)| *a == m)
}

fn describe(m: &str) -> String {
    match rank(m) {
        0 => format!("infrastructure `{m}`"),
        100 => format!("`{m}`"),
        1000 => format!("top module `{m}`"),
        level => format!("area `{m}` (level {level})"),
    }
}

/// One reference from a source file to a path inside the crate.
#[derive(Debug, Clone)]
struct Ref {
    file: String,
    line: usize,
    written: String,
    target: Vec<String>, // absolute path inside the crate, without the leading `crate`
}

impl Ref {
    fn at(&self) -> String {
        let full = format!("crate::{}", self.target.join("::"));
        let resolved = if self.written == full { String::new() } else { format!(" (= {full})") };
        format!("{}:{} `{}`{resolved}", self.file, self.line, self.written)
    }
}

// ---- lexing: identifiers, `::` and punctuation, with comments and literals dropped ----------

struct Tok {
    text: String,
    line: usize,
}

fn lex(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize, s: &str| s.chars().enumerate().all(|(k, ch)| c.get(i + k) == Some(&ch));
    let find = |from: usize, s: &str| (from..c.len()).find(|&k| at(k, s)).unwrap_or(c.len());
    let word = |ch: char| ch.is_alphanumeric() || ch == '_';
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    while i < c.len() {
        // Each branch gives where the token ends and whether it is kept.
        let (end, keep) = if at(i, "//") {
            (find(i, "\n"), false)
        } else if at(i, "/*") {
            (find(i + 2, "*/") + 2, false) // nested block comments are not handled
        } else if let Some(end) = string_end(&c, i) {
            (end, false)
        } else if at(i, "'\\") {
            (find(i + 3, "'") + 1, false) // '\n', '\'', '\u{..}'
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            (i + 3, false) // 'x'; a lifetime's quote falls through to punctuation
        } else if word(c[i]) {
            ((i..c.len()).find(|&k| !word(c[k])).unwrap_or(c.len()), true)
        } else {
            (i + if at(i, "::") { 2 } else { 1 }, !c[i].is_whitespace())
        };
        let end = end.min(c.len());
        if keep {
            out.push(Tok { text: c[i..end].iter().collect(), line });
        }
        line += c[i..end].iter().filter(|&&ch| ch == '\n').count();
        i = end;
    }
    out
}

/// If a string literal (`"..."`, `b"..."`, `c"..."`, `r#"..."#`, `br"..."`) starts at `i`, the
/// index just past it.
fn string_end(c: &[char], i: usize) -> Option<usize> {
    let mut j = i + c[i..].iter().take_while(|ch| matches!(ch, 'b' | 'c' | 'r')).count();
    let raw = j > i && c[j - 1] == 'r';
    let hashes = c[j..].iter().take_while(|&&ch| ch == '#').count();
    if (hashes > 0 && !raw) || c.get(j + hashes) != Some(&'"') {
        return None;
    }
    j += hashes + 1;
    if raw {
        let close: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
        return Some((j..c.len()).find(|&k| c[k..].starts_with(&close)).map_or(c.len(), |k| k + close.len()));
    }
    while j < c.len() && c[j] != '"' {
        j += if c[j] == '\\' { 2 } else { 1 };
    }
    Some(j + 1)
}

fn is_ident(t: &str) -> bool {
    t.chars().next().is_some_and(|ch| ch.is_alphabetic() || ch == '_')
}

// ---- scanning one file for crate paths -----------------------------------------------------

/// A path as written, the module it was written in, and (for `use` leaves) the name it binds.
struct RawPath {
    segs: Vec<String>,
    line: usize,
    module: Vec<String>,
    binds: Option<String>,
}

/// Parses one use tree starting at `i`; pushes its leaves and returns the index after it.
fn use_tree(t: &[Tok], mut i: usize, mut path: Vec<String>, module: &[String], out: &mut Vec<RawPath>) -> usize {
    while i < t.len() {
        match t[i].text.as_str() {
            "::" => i += 1,
            "*" => {
                path.push("*".into());
                out.push(RawPath { segs: path, line: t[i].line, module: module.to_vec(), binds: None });
                return i + 1;
            }
            "{" => {
                i += 1;
                while i < t.len() && t[i].text != "}" {
                    i = use_tree(t, i, path.clone(), module, out);
                    if t.get(i).is_some_and(|x| x.text == ",") {
                        i += 1;
                    }
                }
                return i + 1;
            }
            name if is_ident(name) => {
                path.push(name.to_string());
                i += 1;
                if t.get(i).is_some_and(|x| x.text == "::") {
                    continue;
                }
                let line = t[i - 1].line;
                if path.last().is_some_and(|s| s == "self") {
                    path.pop();
                }
                let mut binds = path.last().cloned();
                if t.get(i).is_some_and(|x| x.text == "as") {
                    binds = t.get(i + 1).map(|x| x.text.clone());
                    i += 2;
                }
                out.push(RawPath { segs: path, line, module: module.to_vec(), binds });
                return i;
            }
            _ => return i, // `,`, `;`, `}` or something unexpected: stop
        }
    }
    i
}

/// All paths with at least two segments (`a::b...`) and all `use` leaves in one file.
fn scan(toks: &[Tok], file_module: &[String]) -> Vec<RawPath> {
    let (mut out, mut module, mut open_mods, mut depth) = (Vec::new(), file_module.to_vec(), Vec::new(), 0);
    let mut i = 0;
    while i < toks.len() {
        let text = toks[i].text.as_str();
        let next = |k: usize| toks.get(i + k).map_or("", |x| x.text.as_str());
        if text == "{" {
            depth += 1;
        } else if text == "}" {
            depth -= 1;
            if open_mods.last() == Some(&depth) {
                open_mods.pop();
                module.pop();
            }
        } else if text == "mod" && is_ident(next(1)) && next(2) == "{" {
            module.push(next(1).to_string());
            open_mods.push(depth);
            i += 2;
            continue;
        } else if text == "use" {
            i = use_tree(toks, i + 1, Vec::new(), &module, &mut out);
            continue;
        } else if is_ident(text) && next(1) == "::" && is_ident(next(2)) && (i == 0 || toks[i - 1].text != "::") {
            let mut segs = vec![text.to_string()];
            let line = toks[i].line;
            while toks.get(i + 1).is_some_and(|x| x.text == "::") && toks.get(i + 2).is_some_and(|x| is_ident(&x.text))
            {
                segs.push(toks[i + 2].text.clone());
                i += 2;
            }
            out.push(RawPath { segs, line, module: module.clone(), binds: None });
        }
        i += 1;
    }
    out
}

/// `src/accounts/db.rs` -> `["accounts", "db"]`; `src/x/mod.rs` -> `["x"]`; lib.rs/main.rs -> `[]`.
fn module_of(file: &str) -> Vec<String> {
    let rel = file.trim_start_matches("src/").trim_end_matches(".rs");
    let mut m: Vec<String> = rel.split('/').map(String::from).collect();
    if m.last().is_some_and(|s| s == "mod") || rel == "lib" || rel == "main" {
        m.pop();
    }
    m
}

fn top_of(file: &str) -> String {
    file.trim_start_matches("src/").split('/').next().unwrap_or("").trim_end_matches(".rs").to_string()
}

/// Names that `use` leaves bind to crate paths: `use crate::accounts;` binds `accounts`.
type Bindings = BTreeMap<String, Vec<String>>;

/// Resolves a written path against its module; `None` when it does not start inside the crate.
fn resolve(segs: &[String], module: &[String], crate_name: &str, bindings: &Bindings) -> Option<Vec<String>> {
    let first = segs[0].as_str();
    let (base, rest): (Vec<String>, &[String]) = if first == "crate" || first == crate_name {
        (Vec::new(), &segs[1..])
    } else if first == "self" {
        (module.to_vec(), &segs[1..])
    } else if first == "super" {
        let n = segs.iter().take_while(|s| *s == "super").count();
        (module[..module.len().checked_sub(n)?].to_vec(), &segs[n..])
    } else if first.starts_with(|ch: char| ch.is_lowercase()) {
        (bindings.get(first)?.clone(), &segs[1..])
    } else {
        return None;
    };
    Some(base.into_iter().chain(rest.iter().cloned()).collect())
}

/// Every reference from `files` into the crate.
fn references(files: &[(String, String)], crate_name: &str) -> Vec<Ref> {
    let mut refs = Vec::new();
    for (file, source) in files {
        let raw = scan(&lex(source), &module_of(file));
        let mut bindings = Bindings::new();
        for p in &raw {
            if let (Some(name), Some(target)) = (&p.binds, resolve(&p.segs, &p.module, crate_name, &Bindings::new())) {
                bindings.insert(name.clone(), target);
            }
        }
        for p in &raw {
            if let Some(target) = resolve(&p.segs, &p.module, crate_name, &bindings) {
                refs.push(Ref { file: file.clone(), line: p.line, written: p.segs.join("::"), target });
            }
        }
    }
    refs
}

// ---- the checks ------------------------------------------------------------------------------

type Edges<'a> = BTreeMap<(String, String), Vec<&'a Ref>>;

/// Strongly connected components of more than one node, each with shortest cycles that
/// together pass through all of its nodes.
fn cycles(edges: &Edges) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        next.entry(a).or_default().insert(b);
    }
    // Breadth-first search: the nodes of a shortest path `from` ... `to` (a cycle if equal).
    let path = |from: &str, to: &str| -> Option<Vec<String>> {
        let (mut came_from, mut queue) = (BTreeMap::new(), VecDeque::from([from]));
        while let Some(n) = queue.pop_front() {
            for &m in next.get(n).into_iter().flatten() {
                if came_from.contains_key(m) {
                    continue;
                }
                came_from.insert(m, n);
                if m == to {
                    let mut nodes = vec![to];
                    while nodes.len() == 1 || nodes[nodes.len() - 1] != from {
                        nodes.push(came_from[nodes[nodes.len() - 1]]);
                    }
                    return Some(nodes.into_iter().rev().map(String::from).collect());
                }
                queue.push_back(m);
            }
        }
        None
    };
    let (mut done, mut found) = (BTreeSet::new(), Vec::new());
    for &node in next.keys() {
        if done.contains(node) || path(node, node).is_none() {
            continue;
        }
        let component: Vec<&str> =
            next.keys().copied().filter(|&m| path(node, m).is_some() && path(m, node).is_some()).collect();
        let mut shown = Vec::new();
        for &m in &component {
            if !shown.iter().any(|c: &Vec<String>| c.iter().any(|x| x == m)) {
                shown.extend(path(m, m));
            }
        }
        done.extend(component.iter().copied());
        found.push((component.into_iter().map(String::from).collect(), shown));
    }
    found
}

fn describe_cycles(tag: &str, what: &str, edges: &Edges) -> Vec<String> {
    let hop = |a: &String, b: &String| {
        let refs = &edges[&(a.clone(), b.clone())];
        format!("\n      {a} -> {b} ({} refs, e.g. {})", refs.len(), refs[0].at())
    };
    let show = |c: &Vec<String>| {
        format!("\n    {}{}", c.join(" -> "), c.windows(2).map(|w| hop(&w[0], &w[1])).collect::<String>())
    };
    cycles(edges)
        .iter()
        .map(|(members, shown)| {
            let shown: String = shown.iter().map(show).collect();
            format!("[{tag} cycle] {what} {} depend on each other in a cycle, e.g.:{shown}", members.join(", "))
        })
        .collect()
}

/// Runs every check; returns the top-level edges (for printing) and the violations.
fn check<'a>(refs: &'a [Ref], files: &[(String, String)]) -> (Edges<'a>, Vec<String>) {
    let tops: BTreeSet<String> = files.iter().map(|(f, _)| top_of(f)).collect();
    let target_top = |r: &Ref| r.target.first().filter(|t| tops.contains(*t)).cloned().unwrap_or_else(|| "lib".into());
    let (mut edges, mut violations, mut area_edges) = (Edges::new(), Vec::new(), BTreeMap::<String, Edges>::new());
    for r in refs {
        let (from, to) = (top_of(&r.file), target_top(r));
        if from != to {
            edges.entry((from.clone(), to.clone())).or_default().push(r);
            let (rf, rt) = (rank(&from), rank(&to));
            if rf == 0 && rt > 0 {
                violations.push(format!("[2/5 infrastructure] {} uses {}: {}", describe(&from), describe(&to), r.at()));
            } else if rf > 0 && rf < 1000 && rt >= rf {
                violations.push(format!("[3/5 upward] {} uses {}: {}", describe(&from), describe(&to), r.at()));
            }
        }
        if is_area(&to) && from != to && r.target.get(1).is_some_and(|s| s == "db") {
            violations.push(format!("[4/5 foreign db] `{from}` reaches into `{to}::db`: {}", r.at()));
        }
        // Files of one area importing each other (mod.rs is not a node).
        let module = module_of(&r.file);
        if let (Some(src), Some(dst)) = (module.get(1), r.target.get(1)) {
            let sibling = |name: &str| {
                files.iter().any(|(f, _)| module_of(f).get(1).map(String::as_str) == Some(name) && top_of(f) == from)
            };
            if is_area(&from) && to == from && src != dst && sibling(dst) {
                area_edges.entry(from.clone()).or_default().entry((src.clone(), dst.clone())).or_default().push(r);
            }
        }
    }
    violations.extend(describe_cycles("1/5", "top-level modules", &edges));
    for (area, e) in &area_edges {
        violations.extend(describe_cycles("5/5", &format!("files of `{area}`:"), e));
    }
    (edges, violations)
}

fn read_tree(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_tree(&path, root, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.push((rel, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn module_graph_is_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    read_tree(&root.join("src"), root, &mut files);
    assert!(files.len() > 5, "found only {} files under src/", files.len());
    let refs = references(&files, &env!("CARGO_PKG_NAME").replace('-', "_"));
    let (edges, violations) = check(&refs, &files);
    eprintln!("top-level module graph ({} files, {} crate references):", files.len(), refs.len());
    for ((from, to), rs) in &edges {
        eprintln!("  {from:>10} -> {to:<10} {:>4}", rs.len());
    }
    assert!(violations.is_empty(), "{} architecture violation(s):\n  {}\n", violations.len(), violations.join("\n  "));
}

/// A fake tree written as `--- path` headers, each followed by that file's source.
fn fake_tree(text: &str) -> Vec<(String, String)> {
    let files = text.split("--- ").skip(1).filter_map(|f| f.split_once('\n'));
    files.map(|(path, source)| (path.trim().to_string(), source.to_string())).collect()
}

const CLEAN_TREE: &str = r#"
--- src/lib.rs
pub mod error; pub mod regions; pub mod accounts; pub mod startup;
--- src/main.rs
fn main() { tonggan::startup::run() }
--- src/error.rs
// uses crate::accounts only in a comment
pub struct AppError; const S: &str = "crate::startup::x";
--- src/regions/mod.rs
mod db; pub mod routes; pub use routes::router;
--- src/regions/db.rs
use crate::error::AppError; pub fn find() {}
--- src/regions/routes.rs
use super::db; use crate::{error::{self, AppError}};
pub fn router() { db::find() }
--- src/accounts/mod.rs
pub mod db; pub mod signin;
pub fn account_region() { crate::regions::routes::router() }
--- src/accounts/db.rs
use super::signin::Form;
--- src/accounts/signin.rs
pub struct Form; fn db() {}
#[cfg(test)]
mod tests { use super::{db, Form}; }
--- src/startup.rs
use crate::{accounts, regions::routes}; fn run() { accounts::account_region(); }
"#;

const BAD_TREE: &str = r##"
--- src/lib.rs
pub mod error; pub mod regions; pub mod accounts; pub mod startup;
--- src/error.rs
use crate::startup::AppState;
fn f() { let _ = r#"crate::accounts"#; }
--- src/startup.rs
use crate::error::AppError;
--- src/regions/mod.rs
pub mod routes;
--- src/regions/routes.rs
fn f() {
    crate::accounts::signin::go()
}
--- src/accounts/mod.rs
pub mod db; pub mod signin;
--- src/accounts/db.rs
use super::signin::Form;
--- src/accounts/signin.rs
use crate::regions;
use super::{db::{self, find}};
fn go() { regions::db::rows() }
"##;

#[test]
fn checker_catches_each_kind_of_violation_and_accepts_a_clean_tree() {
    let run = |text: &str| {
        let files = fake_tree(text);
        let refs = references(&files, "tonggan");
        check(&refs, &files).1
    };
    assert_eq!(run(CLEAN_TREE), Vec::<String>::new());

    let found = run(BAD_TREE).join("\n");
    eprintln!("self-check violations:\n{found}");
    for expected in [
        "[1/5 cycle] top-level modules accounts, regions depend on each other in a cycle, e.g.:\n    accounts -> regions -> accounts",
        "[1/5 cycle] top-level modules error, startup depend on each other in a cycle, e.g.:\n    error -> startup -> error",
        "[2/5 infrastructure] infrastructure `error` uses top module `startup`: src/error.rs:1 `crate::startup::AppState`",
        "[3/5 upward] area `regions` (level 1) uses area `accounts` (level 2): src/regions/routes.rs:2 `crate::accounts::signin::go`",
        "[4/5 foreign db] `accounts` reaches into `regions::db`: src/accounts/signin.rs:3 `regions::db::rows` (= crate::regions::db::rows)",
        "[5/5 cycle] files of `accounts`: db, signin depend on each other in a cycle, e.g.:\n    db -> signin -> db",
        "signin -> db (2 refs, e.g. src/accounts/signin.rs:2 `super::db`",
    ] {
        assert!(found.contains(expected), "self-check missed: {expected}\nall found:\n{found}");
    }
    assert!(!found.contains("uses area `accounts` (level 2): src/error.rs"), "read a string as a path:\n{found}");
    assert_eq!(found.lines().filter(|l| l.starts_with('[')).count(), 6, "unexpected violations:\n{found}");
}
