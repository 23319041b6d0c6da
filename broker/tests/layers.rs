//! The broker's layers depend downward only (docs/ARCHITECTURE.md): no import cycle between the
//! modules of broker/src, and nothing below `broker.rs` imports it. Reads the sources; the
//! import graph comes from `crate::` and `super::` paths outside `#[cfg(test)]` modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`cluster::image`) → source file, for every .rs file under `dir`.
fn modules(root: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read broker/src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            modules(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            out.insert(parts.join("::"), path);
        }
    }
}

/// The `a::b::c` path that starts at byte `at` of `src`.
fn path_at(src: &str, at: usize) -> Vec<&str> {
    let end = src[at..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .map_or(src.len(), |n| at + n);
    src[at..end]
        .split("::")
        .take_while(|s| {
            !s.is_empty() && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        })
        .collect()
}

/// The paths a file names, as absolute module paths (`crate::x::y`, `super::y`, `use crate::{x, y}`).
fn imports(module: &str, src: &str) -> Vec<Vec<String>> {
    let src = src.find("\n#[cfg(test)]").map_or(src, |i| &src[..i]);
    let parent: Vec<String> = module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let parent = &parent[..parent.len().saturating_sub(1)];
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", &[][..]), ("super::", parent)] {
        let mut from = 0;
        while let Some(i) = src[from..].find(prefix) {
            let at = from + i + prefix.len();
            from = at;
            if src[..at - prefix.len()].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let mut heads = vec![path_at(src, at)];
            if src[at..].starts_with('{') {
                let group = &src[at + 1..at + src[at..].find('}').unwrap_or(1)];
                heads = group
                    .split(',')
                    .map(|item| path_at(item.trim(), 0))
                    .collect();
            }
            for head in heads.into_iter().filter(|h| !h.is_empty()) {
                let mut p: Vec<String> = base.to_vec();
                p.extend(head.iter().map(|s| (*s).to_owned()));
                out.push(p);
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut mods = BTreeMap::new();
    modules(&root, &root, &mut mods);
    let mut edges = BTreeMap::new();
    for (m, file) in &mods {
        let src = std::fs::read_to_string(file).expect("read source");
        let mut to = BTreeSet::new();
        // Test-only files (`mod tests;` under `#[cfg(test)]`) count as test modules.
        let last = m.rsplit("::").next().unwrap_or(m);
        if last == "tests" || last.ends_with("_tests") {
            edges.insert(m.clone(), BTreeSet::new());
            continue;
        }
        for path in imports(m, &src) {
            // The longest prefix that is a module file.
            let hit = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|p| mods.contains_key(p));
            if let Some(target) = hit.filter(|t| t != m) {
                to.insert(target);
            }
        }
        edges.insert(m.clone(), to);
    }
    edges
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        e: &'a BTreeMap<String, BTreeSet<String>>,
        idx: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.idx.len();
        t.idx.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        let e = t.e;
        for w in e.get(v).into_iter().flatten() {
            if !t.idx.contains_key(w.as_str()) {
                visit(t, w);
                let lw = t.low[w.as_str()];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w.as_str()) {
                let iw = t.idx[w.as_str()];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.idx[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        e: edges,
        idx: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.idx.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn top(m: &str) -> &str {
    m.split("::").next().unwrap_or(m)
}

#[test]
fn no_import_cycles_between_modules() {
    let edges = graph();
    assert!(edges.len() > 50, "found only {} modules", edges.len());
    let found = cycles(&edges);
    assert!(found.is_empty(), "import cycles between files: {found:?}");
    let mut tops: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, bs) in &edges {
        for b in bs {
            if top(a) != top(b) && !top(a).is_empty() && !top(b).is_empty() {
                tops.entry(top(a).to_owned())
                    .or_default()
                    .insert(top(b).to_owned());
            }
        }
    }
    let found = cycles(&tops);
    let in_cycle = |m: &str| found.iter().flatten().any(|c| c == top(m));
    let mut why = Vec::new();
    for (a, bs) in &edges {
        for b in bs {
            if top(a) != top(b) && in_cycle(a) && in_cycle(b) {
                why.push(format!("{a} -> {b}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "import cycles between top-level modules: {found:?}, through {why:#?}"
    );
}

#[test]
fn only_the_layers_above_the_broker_import_it() {
    let above = ["admin_http", "probes", "server", "handlers", "main", ""];
    let offenders: Vec<_> = graph()
        .into_iter()
        .filter(|(m, to)| to.contains("broker") && !above.contains(&top(m)))
        .map(|(m, _)| m)
        .collect();
    assert!(
        offenders.is_empty(),
        "modules below broker.rs import it: {offenders:?}"
    );
}

#[test]
fn the_checker_sees_a_cycle() {
    let mut edges = BTreeMap::new();
    edges.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    edges.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    edges.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(cycles(&edges), vec![vec!["a".to_owned(), "b".to_owned()]]);
    let parsed = imports(
        "x::y",
        "use crate::{log::LogError, node};\nuse super::z::W;\n",
    );
    assert_eq!(parsed.len(), 3, "{parsed:?}");
}

/// Every source file under broker/src with its path relative to it.
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut mods = BTreeMap::new();
    modules(&root, &root, &mut mods);
    mods.values()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read_to_string(p).expect("read source"))
        })
        .collect()
}

#[test]
fn kafka_error_codes_are_chosen_only_in_the_handlers() {
    // Layers below return their own errors; handlers/errors.rs maps them to Kafka codes.
    let offenders: Vec<_> = sources()
        .into_iter()
        .filter(|(rel, src)| !rel.starts_with("handlers/") && src.contains("ResponseError"))
        .map(|(rel, _)| rel)
        .collect();
    assert!(
        offenders.is_empty(),
        "Kafka error codes chosen below the handlers: {offenders:?}"
    );
}

#[test]
fn handlers_do_not_branch_on_the_mode() {
    let offenders: Vec<_> = sources()
        .into_iter()
        .filter(|(rel, src)| {
            rel.starts_with("handlers/")
                && (src.contains(".replicated()") || src.contains(".cluster()"))
        })
        .map(|(rel, _)| rel)
        .collect();
    assert!(
        offenders.is_empty(),
        "handlers that ask which mode runs: {offenders:?}"
    );
}
