//! The layers of the crate, checked: no import cycle runs through files of different top-level
//! modules (`src/config.rs` and `src/notify/digest.rs` are in different ones; `src/notify/mod.rs`
//! and `src/notify/digest.rs` in the same one). A cycle across modules means neither side can be
//! understood, tested or moved without the other; within one module folder it is the module's own
//! business.
//!
//! It also holds every function outside tests to at most [`LONGEST_FUNCTION`] lines.
//!
//! The check reads `src/**/*.rs` as text: every `crate::…`, `super::…` and child-module path
//! outside comments, strings and `#[cfg(test)]` code is an edge from the file to the file of the
//! longest module prefix of the path. Strongly connected components of that graph that hold files
//! of more than one top-level module are printed with one cycle through them, and fail the test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file: its module path (`["notify", "digest"]`) and its production code.
struct SourceFile {
    rel: String,
    module: Vec<String>,
    code: String,
}

/// Module path of a file below `src/`: `notify/mod.rs` → `notify`, `notify/digest.rs` →
/// `notify::digest`, `lib.rs` → the crate root.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !(stem == "mod" || (parts.is_empty() && (stem == "lib" || stem == "main"))) {
        parts.push(stem.to_string());
    }
    parts
}

fn collect(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, root, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
}

/// Blanks comments, string and char literals, so a path quoted in a doc comment or a message is
/// not taken for an import. Line breaks are kept.
fn strip_noise(text: &str) -> String {
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
        } else if c == '/' && next == Some('*') {
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
                    if b[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&b, i) {
            // Raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            'raw: while j < b.len() {
                if b[j] == '"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break 'raw;
                }
                if b[j] == '\n' {
                    out.push('\n');
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                if b.get(i) == Some(&'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// Cuts the items behind `#[cfg(test)]` (a test module, a test-only function) out of `code`, and
/// returns the names of child modules declared test-only (`#[cfg(test)] mod testing;`).
fn drop_test_code(code: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut test_mods = Vec::new();
    let lines: Vec<&str> = code.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.starts_with("#[cfg(") && line.contains("test") && !line.contains("not(test") {
            // Skip further attributes, then the item: to its `;` or its closing brace.
            let mut j = i + 1;
            while j < lines.len() && lines[j].trim().starts_with("#[") {
                j += 1;
            }
            let item = lines.get(j).map(|l| l.trim()).unwrap_or_default();
            if let Some(name) = item
                .trim_start_matches("pub ")
                .trim_start_matches("pub(crate) ")
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(';'))
            {
                test_mods.push(name.trim().to_string());
            }
            let mut depth = 0i32;
            let mut opened = false;
            while j < lines.len() {
                for ch in lines[j].chars() {
                    match ch {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if (opened && depth <= 0) || (!opened && lines[j].trim_end().ends_with(';')) {
                    break;
                }
                j += 1;
            }
            for _ in i..=j.min(lines.len().saturating_sub(1)) {
                out.push('\n');
            }
            i = j + 1;
            continue;
        }
        out.push_str(lines[i]);
        out.push('\n');
        i += 1;
    }
    (out, test_mods)
}

/// Every path a `use` tree names: `use crate::{a, b::{c, d}}` → `crate::a`, `crate::b::c`,
/// `crate::b::d`.
fn expand_use_tree(tree: &str) -> Vec<String> {
    let renamed = regex::Regex::new(r"\s+as\s+[A-Za-z_][A-Za-z0-9_]*").expect("as pattern");
    let tree: String = renamed
        .replace_all(tree, "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut out = Vec::new();
    expand_into("", &tree, &mut out);
    out
}

fn expand_into(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let Some(open) = tree.find('{') else {
        out.push(format!("{prefix}{tree}").trim_end_matches("::").to_string());
        return;
    };
    let head = &tree[..open];
    let inner = tree[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&tree[open + 1..]);
    let mut depth = 0;
    let mut start = 0;
    let base = format!("{prefix}{head}");
    for (i, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand_into(&base, &inner[start..i], out);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < inner.len() {
        expand_into(&base, &inner[start..], out);
    }
}

/// The module paths `file` refers to, made absolute (`crate`-relative segments).
fn referenced_paths(file: &SourceFile, child_mods: &BTreeSet<String>) -> Vec<Vec<String>> {
    let path_re = regex::Regex::new(
        r"(?:^|[^\w:$])((?:crate|super|self|[a-z_][a-z0-9_]*)(?:::[A-Za-z_][A-Za-z0-9_]*)+)",
    )
    .expect("path pattern");
    let use_re = regex::Regex::new(r"(?s)\buse\s+([^;]*);").expect("use pattern");
    let mut raw: Vec<String> = Vec::new();
    for cap in use_re.captures_iter(&file.code) {
        raw.extend(expand_use_tree(&cap[1]));
    }
    let without_uses = use_re.replace_all(&file.code, "");
    for cap in path_re.captures_iter(&without_uses) {
        raw.push(cap[1].to_string());
    }
    // The module whose children `super::` names: a file's parent module.
    let mut resolved = Vec::new();
    for path in raw {
        let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let Some(first) = segs.first() else { continue };
        let mut abs: Vec<String> = match *first {
            "crate" => Vec::new(),
            "self" => file.module.clone(),
            "super" => {
                let mut m = file.module.clone();
                m.pop();
                m
            }
            name if child_mods.contains(name) => file.module.clone(),
            _ => continue,
        };
        let rest = if matches!(*first, "crate" | "self" | "super") {
            &segs[1..]
        } else {
            &segs[..]
        };
        let mut rest = rest.iter().peekable();
        // `super::super::x`.
        while rest.peek() == Some(&&"super") {
            abs.pop();
            rest.next();
        }
        abs.extend(rest.map(|s| s.to_string()));
        resolved.push(abs);
    }
    resolved
}

/// Tarjan's strongly connected components over `graph` (node → successors).
fn components(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(succ) = s.graph.get(v) {
            for w in succ {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            comp.sort();
            s.out.push(comp);
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// A shortest cycle through `start` inside `comp`, as file names, for the failure message.
fn cycle_through(
    start: &str,
    comp: &BTreeSet<String>,
    graph: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut prev: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.to_string()]);
    while let Some(v) = queue.pop_front() {
        for w in graph.get(&v).into_iter().flatten() {
            if !comp.contains(w) {
                continue;
            }
            if w == start {
                let mut path = vec![v.clone()];
                while let Some(p) = prev.get(path.last().expect("not empty")) {
                    path.push(p.clone());
                }
                if path.last().map(String::as_str) != Some(start) {
                    path.push(start.to_string());
                }
                path.reverse();
                path.push(start.to_string());
                return path;
            }
            if !prev.contains_key(w) && w != start {
                prev.insert(w.clone(), v.clone());
                queue.push_back(w.clone());
            }
        }
    }
    vec![start.to_string()]
}

/// The import graph of `src/`: file → files it refers to.
fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut rels = Vec::new();
    collect(src, src, &mut rels);
    let mut files = Vec::new();
    let mut test_only: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut children: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    let mod_re =
        regex::Regex::new(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;")
            .expect("mod pattern");
    for rel in rels {
        let text = std::fs::read_to_string(src.join(&rel))
            .unwrap_or_else(|e| panic!("cannot read src/{}: {e}", rel.display()));
        let module = module_of(&rel);
        let (code, test_mods) = drop_test_code(&strip_noise(&text));
        for name in test_mods {
            let mut m = module.clone();
            m.push(name);
            test_only.insert(m);
        }
        let kids = children.entry(module.clone()).or_default();
        for cap in mod_re.captures_iter(&code) {
            kids.insert(cap[1].to_string());
        }
        files.push(SourceFile {
            rel: format!("src/{}", rel.display()),
            module,
            code,
        });
    }
    // A file under a test-only module is test code as a whole.
    files.retain(|f| !test_only.iter().any(|t| f.module.starts_with(t)));
    let by_module: BTreeMap<Vec<String>, String> = files
        .iter()
        .filter(|f| f.rel != "src/main.rs")
        .map(|f| (f.module.clone(), f.rel.clone()))
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let kids = children.get(&f.module).cloned().unwrap_or_default();
        let edges = graph.entry(f.rel.clone()).or_default();
        for path in referenced_paths(f, &kids) {
            // The longest prefix of the path that is a module with its own file.
            let target = (1..=path.len())
                .rev()
                .find_map(|n| by_module.get(&path[..n]));
            if let Some(target) = target
                && *target != f.rel
            {
                edges.insert(target.clone());
            }
        }
    }
    graph
}

/// The top-level module a file belongs to: `src/notify/digest.rs` → `notify`.
fn top_module(rel: &str) -> &str {
    let inner = rel.trim_start_matches("src/");
    let first = inner.split('/').next().unwrap_or(inner);
    first.trim_end_matches(".rs")
}

/// Edges that still close a circle, each with what is left to do. Empty now: an exception
/// added here must say why. The test fails when one is gone, so the list only shrinks.
const KNOWN: &[(&str, &str, &str)] = &[];

#[test]
fn no_import_cycle_runs_through_different_module_folders() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = import_graph(&src);
    for (from, to, why) in KNOWN {
        let removed = graph.get_mut(*from).is_some_and(|edges| edges.remove(*to));
        assert!(
            removed,
            "{from} no longer imports {to}: take that line out of KNOWN ({why})"
        );
    }
    assert!(
        graph.len() > 20 && graph.values().map(BTreeSet::len).sum::<usize>() > 50,
        "the import graph looks empty ({} files); the reader is broken",
        graph.len()
    );
    let mut report = String::new();
    for comp in components(&graph) {
        let modules: BTreeSet<&str> = comp.iter().map(|f| top_module(f)).collect();
        if modules.len() < 2 {
            continue;
        }
        let set: BTreeSet<String> = comp.iter().cloned().collect();
        report.push_str(&format!(
            "\n{} files of modules {} import each other in a circle, e.g.:\n  {}\n",
            comp.len(),
            modules.into_iter().collect::<Vec<_>>().join(", "),
            cycle_through(&comp[0], &set, &graph).join("\n  -> ")
        ));
    }
    assert!(
        report.is_empty(),
        "import cycles across module folders (move the shared part into a lower module):{report}"
    );
}

/// Files below `src/` that use the database engine, name the SQLite store type (`Store`, where
/// the rest of webcare holds a `dyn Backend`) or hold SQL, outside `src/store/`, each with the
/// first line that does. Test code counts too: a test that writes SQL of its own would break
/// with the store's next schema or backend just like production code.
fn engine_outside_the_store(src: &Path) -> Vec<String> {
    let engine = regex::Regex::new(r"\brusqlite\b").expect("engine pattern");
    // `Store::open(…)`, `store::Store`, or `Store` in a `use crate::store::{…}` tree.
    let sqlite_store =
        regex::Regex::new(r"\bStore::|\bstore::(\{[^}]*\b)?Store\b").expect("store type pattern");
    let sql = regex::Regex::new(
        r#""\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|PRAGMA\s|CREATE\s+(TABLE|INDEX)\s)"#,
    )
    .expect("SQL pattern");
    let mut rels = Vec::new();
    collect(src, src, &mut rels);
    let mut found = Vec::new();
    for rel in rels.iter().filter(|r| !r.starts_with("store")) {
        let text = std::fs::read_to_string(src.join(rel))
            .unwrap_or_else(|e| panic!("cannot read src/{}: {e}", rel.display()));
        // The engine's name in code (not in a comment or a message), or SQL in a string.
        let code = strip_noise(&text);
        let store_line = sqlite_store
            .find(&code)
            .map(|m| code[..m.start()].matches('\n').count());
        let hit = code
            .lines()
            .position(|l| engine.is_match(l))
            .or(store_line)
            .or_else(|| text.lines().position(|l| sql.is_match(l)));
        if let Some(line) = hit {
            found.push(format!("src/{}:{}", rel.display(), line + 1));
        }
    }
    found
}

#[test]
fn only_the_store_speaks_to_the_database_engine() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = engine_outside_the_store(&src);
    assert!(
        found.is_empty(),
        "SQL, rusqlite or the SQLite `Store` outside src/store/ (add a store method instead \
         and hold a `dyn Backend`, so the store stays the one place a second backend has to \
         implement):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_engine_check_finds_rusqlite_the_sqlite_store_and_sql_but_not_prose() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("store")).expect("store dir");
    let write = |rel: &str, text: &str| std::fs::write(src.join(rel), text).expect("write");
    write(
        "store/mod.rs",
        "use rusqlite::Connection;\nconst Q: &str = \"SELECT 1\";\n",
    );
    write(
        "admin.rs",
        "//! Reads the store, never rusqlite.\nfn f() {}\n",
    );
    write("web.rs", "fn f() {\n    rusqlite::params![1];\n}\n");
    write(
        "cli.rs",
        "use crate::store::{\n    self,\n    Backend, Store,\n};\nfn f() {}\n",
    );
    write(
        "page.rs",
        "//! One Store per request? No: a `dyn Backend`.\nfn f() {\n    Store::open(p);\n}\n",
    );
    write(
        "apps.rs",
        "enum E {\n    Store(StoreError),\n}\nconst NAME: &str = \"App Store\";\n",
    );
    write(
        "digest.rs",
        "fn f() {\n    let q = \"UPDATE outbox SET state = 'x'\";\n}\n",
    );
    assert_eq!(
        engine_outside_the_store(src),
        vec![
            "src/cli.rs:1",
            "src/digest.rs:2",
            "src/page.rs:3",
            "src/web.rs:2"
        ]
    );
}

#[test]
fn the_reader_finds_paths_in_use_trees_and_code() {
    assert_eq!(
        expand_use_tree("crate::{a, b::{c, d as e}, f::G}"),
        vec!["crate::a", "crate::b::c", "crate::b::d", "crate::f::G"]
    );
    let stripped = strip_noise("let s = \"crate::x::y\"; // crate::z\nlet c = '{'; crate::w::f();");
    assert!(!stripped.contains("crate::x") && !stripped.contains("crate::z"));
    assert!(stripped.contains("crate::w::f"));
    let (code, mods) = drop_test_code(
        "use crate::a;\n#[cfg(test)]\nmod testing;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n}\n",
    );
    assert_eq!(mods, vec!["testing"]);
    assert!(code.contains("crate::a") && !code.contains("crate::b"));
    let file = SourceFile {
        rel: "src/notify/digest.rs".into(),
        module: vec!["notify".into(), "digest".into()],
        code: "use super::mail::X;\nfn f() { crate::store::open(); chart::draw(); }".into(),
    };
    let kids = BTreeSet::from(["chart".to_string()]);
    let paths = referenced_paths(&file, &kids);
    assert!(paths.contains(&vec!["notify".into(), "mail".into(), "X".into()]));
    assert!(paths.contains(&vec!["store".into(), "open".into()]));
    assert!(paths.contains(&vec![
        "notify".into(),
        "digest".into(),
        "chart".into(),
        "draw".into()
    ]));
}

/// The longest a function outside tests may be, in lines from its `fn` to its closing brace.
/// Past this a function does several things and each wants a name of its own.
const LONGEST_FUNCTION: usize = 120;

/// Every function in `code` (comments and strings already blanked) longer than `limit` lines,
/// as (line of its `fn`, name, lines). A declaration without a body (`fn f();` in a trait) is
/// no function here.
fn functions_longer_than(code: &str, limit: usize) -> Vec<(usize, String, usize)> {
    let fn_re = regex::Regex::new(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)").expect("fn pattern");
    let line_of = |at: usize| code[..at].matches('\n').count();
    let mut found = Vec::new();
    for cap in fn_re.captures_iter(code) {
        let start = cap.get(0).map_or(0, |m| m.end());
        // The body opens at the first `{` after the signature; a `;` first ends a declaration.
        let Some(open) = code[start..].find(['{', ';']).map(|i| start + i) else {
            continue;
        };
        if code.as_bytes()[open] == b';' {
            continue;
        }
        let mut depth = 0usize;
        let mut close = None;
        for (i, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(open + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(close) = close else { continue };
        let (first, last) = (line_of(cap.get(0).map_or(0, |m| m.start())), line_of(close));
        if last - first + 1 > limit {
            found.push((first + 1, cap[1].to_string(), last - first + 1));
        }
    }
    found
}

#[test]
fn no_function_outside_tests_is_longer_than_120_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut rels = Vec::new();
    collect(&src, &src, &mut rels);
    // Files of test-only modules (`#[cfg(test)] mod testing;`) are test code as a whole.
    let mut test_only: Vec<Vec<String>> = Vec::new();
    let mut codes = Vec::new();
    for rel in &rels {
        let text = std::fs::read_to_string(src.join(rel))
            .unwrap_or_else(|e| panic!("cannot read src/{}: {e}", rel.display()));
        let module = module_of(rel);
        let (code, test_mods) = drop_test_code(&strip_noise(&text));
        test_only.extend(test_mods.into_iter().map(|name| {
            let mut m = module.clone();
            m.push(name);
            m
        }));
        codes.push((rel, module, code));
    }
    let mut long = Vec::new();
    let mut functions = 0;
    for (rel, module, code) in &codes {
        if test_only.iter().any(|t| module.starts_with(t)) {
            continue;
        }
        functions += code.matches("fn ").count();
        for (line, name, lines) in functions_longer_than(code, LONGEST_FUNCTION) {
            long.push(format!(
                "src/{}:{line} {name}: {lines} lines",
                rel.display()
            ));
        }
    }
    assert!(
        functions > 500,
        "only {functions} functions read; the reader is broken"
    );
    assert!(
        long.is_empty(),
        "functions over {LONGEST_FUNCTION} lines (split them into steps with names):\n  {}",
        long.join("\n  ")
    );
}

#[test]
fn the_length_check_counts_bodies_and_passes_over_declarations() {
    let body = "    x();\n".repeat(5);
    let code = format!(
        "trait T {{\n    fn declared(&self);\n}}\nfn short() {{\n{body}}}\nfn long(\n    a: u8,\n) -> u8 {{\n    if a > 0 {{\n{body}    }}\n    a\n}}\n"
    );
    // `long` runs from its `fn` line to its brace: 3 + 1 + 5 + 1 + 1 + 1 lines.
    assert_eq!(
        functions_longer_than(&code, 11),
        vec![(11, "long".to_string(), 12)]
    );
    assert!(functions_longer_than(&code, 12).is_empty());
}
