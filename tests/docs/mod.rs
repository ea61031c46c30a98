//! `docs`: the book (docs/src) and README.md. Their generated blocks (between
//! `<!-- generated: NAME -->` and `<!-- end generated -->`) are the program's current output or
//! the files they copy, not stale copies: if one of these tests fails after a change of the model,
//! the measured runs or a copied file, run `cargo run --release -- docs`, which rewrites every
//! block, then read the new figures and update the prose around them. The book's scenario example
//! is valid, its relative links resolve, every page is in SUMMARY.md, and the crate's modules do
//! not import each other in circles (docs/src/architecture.md).

use gpuslice::cli::docs;
use std::path::{Path, PathBuf};

const REGENERATE: &str = "run `cargo run --release -- docs` (it rewrites every generated block of the book and README.md)";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every block called `name` in the pages equals what the program makes now, and `page` has one.
fn block_is_current(name: &str, page: &str) {
    let want = docs::block(name, &root()).unwrap_or_else(|e| panic!("block '{name}': {e}"));
    let mut in_page = false;
    for p in docs::pages(&root()).expect("pages") {
        for (n, text) in docs::blocks_of(&read(&p), &p).expect("well-formed blocks") {
            if n == name {
                in_page |= p == page;
                assert!(
                    text == want,
                    "{p}: generated block '{name}' differs from the program's output; {REGENERATE}.\nnow:\n{want}"
                );
            }
        }
    }
    assert!(
        in_page,
        "{page} has no generated block '{name}' (<!-- generated: {name} --> ... <!-- end generated -->)"
    );
}

#[test]
fn accuracy_tables_are_current() {
    block_is_current("accuracy", "docs/src/accuracy.md");
}

#[test]
fn default_study_is_current() {
    block_is_current("default-study", "docs/src/guide/default-study.md");
    block_is_current("default-study", "README.md");
}

#[test]
fn fault_table_is_current() {
    block_is_current("fault-table", "docs/src/model/faults.md");
}

#[test]
fn copies_of_the_tui_capture_and_the_ci_examples_are_current() {
    block_is_current("tui-capture", "docs/src/tui.md");
    block_is_current("ci-github-actions", "docs/src/sweeps-ci.md");
    block_is_current("ci-k8s-indexed-job", "docs/src/sweeps-ci.md");
}

/// Every block of every page is closed and has a known name, and the generator leaves a page
/// that is current unchanged (it rewrites the text between the markers and nothing else).
#[test]
fn generated_blocks_are_well_formed_and_known() {
    for p in docs::pages(&root()).expect("pages") {
        let text = read(&p);
        for (name, _) in docs::blocks_of(&text, &p).unwrap_or_else(|e| panic!("{e}")) {
            assert!(
                docs::BLOCKS.contains(&name.as_str()),
                "{p}: unknown generated block '{name}' (known: {:?})",
                docs::BLOCKS
            );
        }
        let same = docs::rewrite(&text, &p, &mut |name| {
            Ok(docs::blocks_of(&text, &p)?
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t)
                .unwrap_or_default())
        })
        .expect("rewrite");
        assert_eq!(same, text, "{p}: rewriting blocks with their own text changed the page");
    }
    let fixed = docs::rewrite("a\n<!-- generated: x -->\nold\n<!-- end generated -->\nb\n", "t.md", &mut |n| {
        Ok(format!("\nnew {n}\n\n"))
    })
    .expect("rewrite");
    assert_eq!(fixed, "a\n<!-- generated: x -->\n\nnew x\n\n<!-- end generated -->\nb\n");
    assert!(
        docs::blocks_of("<!-- generated: x -->\nno end\n", "t.md").is_err(),
        "an unclosed block is an error"
    );
}

/// The scenario example of docs/src/guide/scenario-files.md is a complete, valid scenario.
#[test]
fn scenario_example_is_valid() {
    let page = "docs/src/guide/scenario-files.md";
    let text = read(page);
    let start = text
        .find("```toml\nname = \"book-example\"")
        .unwrap_or_else(|| panic!("{page} has the example"))
        + "```toml\n".len();
    let end = start + text[start..].find("```").expect("closing fence");
    let sc = gpuslice::scenario::files::parse_scenario(&text[start..end], page, None).expect("the book's example parses");
    let runs = gpuslice::sim::run_scenario(&sc, 1).expect("runs");
    assert_eq!(runs[0].gpus, 5);
    assert!(runs[0].completed > 0 && runs[0].failures.crashes == 1);
}

/// The anchor GitHub and mdBook give a heading: lower case, spaces to `-`, other punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> Vec<String> {
    let mut fence = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fence = !fence;
        } else if !fence && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of the inline links `[text](target)` and mdBook includes `{{#include target}}` of a
/// Markdown text, outside code blocks and code spans.
fn links(text: &str) -> Vec<String> {
    let mut fence = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        for part in prose.split("](").skip(1) {
            if let Some(end) = part.find(')') {
                out.push(part[..end].to_string());
            }
        }
        if let Some(at) = line.find("{{#include ") {
            let rest = &line[at + "{{#include ".len()..];
            let target = rest.split(['}', ':']).next().unwrap_or_default();
            out.push(target.trim().to_string());
        }
    }
    out
}

/// Every relative link of README.md and of the book resolves to a file of the repository (and,
/// with `#anchor`, to one of its headings), and every page of docs/src is in SUMMARY.md, as mdBook
/// builds it.
#[test]
fn book_links_resolve_and_every_page_is_in_the_summary() {
    let root = root();
    let pages = docs::pages(&root).expect("pages");
    let mut broken = Vec::new();
    for p in &pages {
        let dir = Path::new(p).parent().unwrap_or(Path::new(""));
        for target in links(&read(p)) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let path = if file.is_empty() { PathBuf::from(p) } else { dir.join(file) };
            let full = root.join(&path);
            if !full.exists() {
                broken.push(format!("{p}: {target} (no {})", path.display()));
            } else if !anchor.is_empty() && !anchors(&std::fs::read_to_string(&full).unwrap_or_default()).contains(&anchor.to_string()) {
                broken.push(format!("{p}: {target} (no heading #{anchor})"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));

    let summary = read("docs/src/SUMMARY.md");
    let listed: Vec<String> = links(&summary).into_iter().map(|l| format!("docs/src/{l}")).collect();
    let missing: Vec<&String> = pages
        .iter()
        .filter(|p| p.starts_with("docs/src/") && !p.ends_with("SUMMARY.md") && !listed.contains(p))
        .collect();
    assert!(missing.is_empty(), "pages not in docs/src/SUMMARY.md: {missing:?}");
}

/// The module graph is the layer map of docs/src/architecture.md: a module imports only
/// modules of lower layers (so no circle, and nothing reaches back up from the core to the
/// edges), every top-level module has a layer, and the simulation core does no I/O (no file,
/// terminal or environment access outside the edges: `scenario/files.rs`, `validate/`, `out/`,
/// `cli/`, `tui/`). Comments and test modules are left out; submodules count as their parent.
#[test]
fn modules_form_layers_and_the_core_does_no_io() {
    use std::collections::{BTreeMap, BTreeSet};
    const LAYERS: &[&[&str]] = &[
        &["time", "error"],
        &["rng", "metrics", "limits"],
        &["gpu"],
        &["model"],
        &["deploy"],
        &["scenario"],
        &["sim"],
        &["plan", "sweep", "validate"],
        &["out"],
        &["tui"],
        &["cli"],
    ];
    let layer = |m: &str| LAYERS.iter().position(|l| l.contains(&m));
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("src") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = root().join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut io = Vec::new();
    for f in &all {
        let rel = f.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
        let module = rel.split(['/', '.']).next().expect("a name").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        assert!(layer(&module).is_some(), "module '{module}' ({rel}) has no layer in the map");
        let text = std::fs::read_to_string(f).expect("source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let edge = rel == "scenario/files.rs" || ["validate", "out", "cli", "tui"].contains(&module.as_str());
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for part in line.split("crate::").skip(1) {
                let dep: String = part.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if !dep.is_empty() && dep != module {
                    deps.entry(module.clone()).or_default().insert(dep);
                }
            }
            if !edge
                && ["std::fs", "File::", "println!", "eprintln!", "stdin", "std::env"]
                    .iter()
                    .any(|x| line.contains(x))
            {
                io.push(format!("{rel}: {}", line.trim()));
            }
        }
    }
    let upward: Vec<String> = deps
        .iter()
        .flat_map(|(m, ds)| ds.iter().map(move |d| (m.clone(), d.clone())))
        .filter(|(m, d)| layer(d).is_none_or(|ld| ld >= layer(m).expect("checked")))
        .map(|(m, d)| format!("{m} -> {d}"))
        .collect();
    assert!(upward.is_empty(), "imports that do not run down the layers: {upward:?}");
    assert!(io.is_empty(), "I/O in the simulation core: {io:?}");
}
