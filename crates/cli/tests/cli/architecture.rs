//! The workspace's shape, checked on every test run: no source file of `crates/*/src` over
//! 1,000 lines, no trait over 25 methods, no circle of imports between the files of a crate,
//! the server crate not depending on the store crate, and the store's test databases never in
//! the shipped binary (ADR 0019).
//!
//! Imports are read from the sources: `use` declarations and `crate::`, `super::`, `self::`
//! and child-module paths in code, each resolved to the file that defines what it names
//! (following re-exports, so `crate::Foo` re-exported by `lib.rs` counts as an import of the
//! file that defines `Foo`). Comments, string literals and `#[cfg(test)]` modules are left
//! out: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 1000;
const MAX_TRAIT_METHODS: usize = 25;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crates() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(workspace().join("crates"))
        .expect("crates/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("src").is_dir())
        .collect();
    out.sort();
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("a source folder") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text without comments, string and char literals (each replaced by a space), so that
/// paths in docs and messages are not taken for imports.
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            continue;
        }
        if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !is_ident(b.get(i.wrapping_sub(1)))
        {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) == Some(&'"') {
                j += 1;
                loop {
                    if j >= b.len() {
                        break;
                    }
                    if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                i = j;
                out.push(' ');
                continue;
            }
        }
        if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
            continue;
        }
        if c == '\'' {
            // A char literal ('x', '\n', '\''), not a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push(' ');
                continue;
            }
            if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push(' ');
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn is_ident(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The text without `#[cfg(test)]` items (their braces matched).
fn without_tests(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let Some(open) = out[at..].find('{').map(|o| at + o) else {
            break;
        };
        let mut depth = 0;
        let mut end = open;
        for (k, ch) in out[open..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..end, " ");
    }
    out
}

/// The module path of a source file, from the crate's `src`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("inside src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs").to_owned();
    if !(stem == "mod" || (parts.is_empty() && (stem == "lib" || stem == "main"))) {
        parts.push(stem);
    }
    parts
}

/// One crate's modules: their code, what each defines and re-exports.
struct Crate {
    files: BTreeMap<Vec<String>, PathBuf>,
    code: BTreeMap<Vec<String>, String>,
}

/// The full paths a `use` tree names, relative to where it is written.
fn use_paths(tree: &str) -> Vec<(Vec<String>, Option<String>)> {
    // (path segments, alias) for each leaf; a glob leaf ends in "*".
    fn walk(prefix: &[String], s: &str, out: &mut Vec<(Vec<String>, Option<String>)>) {
        let s = s.trim();
        if s.is_empty() {
            return;
        }
        if let Some(open) = s.find('{') {
            let head: Vec<String> = s[..open]
                .split("::")
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect();
            let inner = &s[open + 1..s.rfind('}').unwrap_or(s.len())];
            let mut base = prefix.to_vec();
            base.extend(head);
            let mut depth = 0;
            let mut start = 0;
            for (i, ch) in inner.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        walk(&base, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            walk(&base, &inner[start..], out);
            return;
        }
        let (path, alias) = match s.split_once(" as ") {
            Some((p, a)) => (p, Some(a.trim().to_owned())),
            None => (s, None),
        };
        let mut full = prefix.to_vec();
        for seg in path.split("::").map(str::trim).filter(|x| !x.is_empty()) {
            if seg == "self" && !full.is_empty() {
                continue;
            }
            full.push(seg.to_owned());
        }
        out.push((full, alias));
    }
    let mut out = Vec::new();
    walk(&[], tree, &mut out);
    out
}

/// The `use` declarations of a module's code: each tree's text.
fn use_trees(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        let after = &rest[at + 3..];
        let Some(end) = after.find(';') else { break };
        out.push(after[..end].to_owned());
        rest = &after[end..];
    }
    out
}

/// The position of `word` as a whole word.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        if !is_ident(before.as_ref()) && !is_ident(after.as_ref()) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

impl Crate {
    fn read(dir: &Path) -> Self {
        let src = dir.join("src");
        let mut list = Vec::new();
        rust_files(&src, &mut list);
        let mut files = BTreeMap::new();
        let mut code = BTreeMap::new();
        for f in list {
            let m = module_path(&src, &f);
            let text = std::fs::read_to_string(&f).expect("a source file");
            code.insert(m.clone(), without_tests(&code_only(&text)));
            files.insert(m, f);
        }
        Self { files, code }
    }

    fn is_module(&self, m: &[String]) -> bool {
        self.files.contains_key(m)
    }

    /// Whether module `m` defines an item called `name`.
    fn defines(&self, m: &[String], name: &str) -> bool {
        let Some(code) = self.code.get(m) else {
            return false;
        };
        [
            "struct", "enum", "fn", "trait", "type", "const", "static", "union", "mod",
        ]
        .iter()
        .any(|kw| {
            let mut rest = code.as_str();
            while let Some(at) = find_word(rest, kw) {
                let after = rest[at + kw.len()..].trim_start();
                let ident: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if ident == name {
                    return true;
                }
                rest = &rest[at + kw.len()..];
            }
            false
        }) || code.contains(&format!("macro_rules! {name}"))
    }

    /// The absolute path a `use` path written in module `m` names.
    fn absolute(&self, m: &[String], path: &[String]) -> Option<Vec<String>> {
        let first = path.first()?;
        let mut base: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "self" => m.to_vec(),
            "super" => {
                let mut b = m.to_vec();
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    b.pop();
                    rest = &rest[1..];
                }
                b.extend(rest.iter().cloned());
                return Some(b);
            }
            _ => {
                let mut child = m.to_vec();
                child.push(first.clone());
                if self.is_module(&child) {
                    m.to_vec()
                } else {
                    return None; // another crate, or a name in scope
                }
            }
        };
        let skip = usize::from(matches!(first.as_str(), "crate" | "self"));
        base.extend(path[skip..].iter().cloned());
        Some(base)
    }

    /// The file that defines what absolute `path` names, following re-exports.
    fn resolve(&self, path: &[String], depth: usize) -> Option<Vec<String>> {
        let mut m: Vec<String> = Vec::new();
        let mut i = 0;
        while i < path.len() {
            let mut next = m.clone();
            next.push(path[i].clone());
            if self.is_module(&next) {
                m = next;
                i += 1;
            } else {
                break;
            }
        }
        if i >= path.len() || path[i] == "*" || depth > 16 {
            return Some(m);
        }
        let name = &path[i];
        if self.defines(&m, name) {
            return Some(m);
        }
        // Re-exported from elsewhere: follow the `use` that brings the name in.
        let code = self.code.get(&m)?;
        let mut globs = Vec::new();
        for tree in use_trees(code) {
            for (p, alias) in use_paths(&tree) {
                let Some(abs) = self.absolute(&m, &p) else {
                    continue;
                };
                let named = alias.as_deref().or(p.last().map(String::as_str));
                if named == Some(name.as_str()) {
                    return self.resolve(&abs, depth + 1);
                }
                if p.last().is_some_and(|s| s == "*") {
                    globs.push(abs[..abs.len() - 1].to_vec());
                }
            }
        }
        for g in globs {
            let mut q = g.clone();
            q.push(name.clone());
            if let Some(found) = self.resolve(&q, depth + 1)
                && found != g
            {
                return Some(found);
            }
            if self.defines(&g, name) {
                return Some(g);
            }
        }
        Some(m)
    }

    /// Every module each module imports.
    fn imports(&self) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
        let mut graph = BTreeMap::new();
        for (m, code) in &self.code {
            let mut to = BTreeSet::new();
            let mut paths: Vec<Vec<String>> = Vec::new();
            for tree in use_trees(code) {
                paths.extend(use_paths(&tree).into_iter().map(|(p, _)| p));
            }
            // Paths in code: crate::a::b, super::x, self::x, child::x.
            let words: Vec<&str> = code
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .filter(|w| w.contains("::"))
                .collect();
            for w in words {
                let segs: Vec<String> = w
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                paths.push(segs);
            }
            for p in paths {
                if let Some(abs) = self.absolute(m, &p)
                    && let Some(target) = self.resolve(&abs, 0)
                    && &target != m
                    && !m.starts_with(&target[..])
                {
                    to.insert(target);
                }
            }
            graph.insert(m.clone(), to);
        }
        graph
    }
}

/// A circle in `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<Vec<String>>> {
    fn visit(
        n: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for next in graph.get(n).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|x| x == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_source_file_is_over_a_thousand_lines() {
    let mut long = Vec::new();
    for c in crates() {
        let mut files = Vec::new();
        rust_files(&c.join("src"), &mut files);
        for f in files {
            let n = std::fs::read_to_string(&f).expect("a file").lines().count();
            if n > MAX_LINES {
                long.push(format!("{} ({n} lines)", f.display()));
            }
        }
    }
    assert!(long.is_empty(), "split these by concern: {long:?}");
}

#[test]
fn no_trait_has_more_than_twenty_five_methods() {
    let mut wide = Vec::new();
    for c in crates() {
        let mut files = Vec::new();
        rust_files(&c.join("src"), &mut files);
        for f in files {
            let code = without_tests(&code_only(&std::fs::read_to_string(&f).expect("a file")));
            let mut rest = code.as_str();
            while let Some(at) = find_word(rest, "trait") {
                let after = &rest[at + 5..];
                let name: String = after
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let (Some(open), semi) = (after.find('{'), after.find(';')) else {
                    break;
                };
                if semi.is_some_and(|s| s < open) {
                    rest = &after[open..];
                    continue;
                }
                let mut depth = 0;
                let mut methods = 0;
                let body = &after[open..];
                let mut end = body.len();
                for (i, ch) in body.char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = i;
                                break;
                            }
                        }
                        'f' if depth == 1
                            && body[i..].starts_with("fn ")
                            && !is_ident(body[..i].chars().next_back().as_ref()) =>
                        {
                            methods += 1;
                        }
                        _ => {}
                    }
                }
                if methods > MAX_TRAIT_METHODS {
                    wide.push(format!("{name} in {} ({methods} methods)", f.display()));
                }
                rest = &body[end..];
            }
        }
    }
    assert!(wide.is_empty(), "split these traits by concern: {wide:?}");
}

#[test]
fn no_circle_of_imports_between_the_files_of_a_crate() {
    for c in crates() {
        let krate = Crate::read(&c);
        let graph = krate.imports();
        // BIOGUARD_ARCH_GRAPH=<crate> prints that crate's file graph, to see what was read.
        if std::env::var("BIOGUARD_ARCH_GRAPH")
            .is_ok_and(|n| c.file_name().is_some_and(|f| f.to_string_lossy() == n))
        {
            for (m, to) in &graph {
                eprintln!(
                    "{} -> {:?}",
                    m.join("::"),
                    to.iter().map(|t| t.join("::")).collect::<Vec<_>>()
                );
            }
        }
        if let Some(cycle) = find_cycle(&graph) {
            let files: Vec<String> = cycle
                .iter()
                .map(|m| {
                    let f = &krate.files[m];
                    f.strip_prefix(&c).unwrap_or(f).display().to_string()
                })
                .collect();
            panic!(
                "a circle of imports in {}: {}",
                c.file_name().unwrap_or_default().to_string_lossy(),
                files.join(" -> ")
            );
        }
    }
}

#[test]
fn the_import_reader_sees_a_circle_and_a_re_export() {
    // The checker itself: a made-up crate where a.rs and b.rs import each other, one of them
    // through lib.rs's re-export.
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\npub use a::Alpha;\n").expect("lib");
    std::fs::write(
        src.join("a.rs"),
        "use crate::b::beta; // crate::c is only a comment\npub struct Alpha;\n",
    )
    .expect("a");
    std::fs::write(
        src.join("b.rs"),
        "pub fn beta() -> crate::Alpha { let _ = \"crate::nothing\"; crate::Alpha }\n",
    )
    .expect("b");
    let krate = Crate::read(dir.path());
    let graph = krate.imports();
    let a = vec!["a".to_owned()];
    let b = vec!["b".to_owned()];
    assert_eq!(graph[&a], BTreeSet::from([b.clone()]));
    assert_eq!(
        graph[&b],
        BTreeSet::from([a.clone()]),
        "through the re-export"
    );
    assert!(find_cycle(&graph).is_some());
    std::fs::write(src.join("b.rs"), "pub fn beta() {}\n").expect("b");
    let krate = Crate::read(dir.path());
    assert!(find_cycle(&krate.imports()).is_none());
}

/// The dependencies a `Cargo.toml` section lists, by name.
fn section<'a>(manifest: &'a str, name: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == format!("[{name}]");
            continue;
        }
        if inside && !t.is_empty() && !t.starts_with('#') {
            out.push(t);
        }
    }
    out
}

#[test]
fn the_server_does_not_depend_on_the_store() {
    let manifest =
        std::fs::read_to_string(workspace().join("crates/server/Cargo.toml")).expect("manifest");
    let deps = section(&manifest, "dependencies");
    assert!(!deps.is_empty());
    assert!(
        deps.iter().all(|d| !d.starts_with("bioguard-store")),
        "the server maps service and core types only: {deps:?}"
    );
}

#[test]
fn the_shipped_binary_has_no_test_databases() {
    // The store's test helpers exist only with its `testing` feature...
    let lib = std::fs::read_to_string(workspace().join("crates/store/src/lib.rs")).expect("lib");
    assert!(
        lib.contains("#[cfg(feature = \"testing\")]\npub mod testing;"),
        "testing must sit behind the feature"
    );
    // ...and only development dependencies turn it on.
    for c in crates() {
        let manifest = std::fs::read_to_string(c.join("Cargo.toml")).expect("manifest");
        for s in ["dependencies", "features"] {
            assert!(
                section(&manifest, s)
                    .iter()
                    .all(|d| !(d.contains("bioguard-store") && d.contains("testing"))),
                "{}: [{s}] turns the store's test databases on",
                c.display()
            );
        }
    }
    let root = std::fs::read_to_string(workspace().join("Cargo.toml")).expect("manifest");
    assert!(
        section(&root, "workspace.dependencies")
            .iter()
            .all(|d| !(d.starts_with("bioguard-store") && d.contains("testing")))
    );
}
