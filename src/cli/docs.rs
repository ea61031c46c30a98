//! `gpuslice docs`: rewrites the generated blocks of the book (`docs/src/**/*.md`) and of
//! README.md, the figures and copies that must equal the program's current output or the files
//! they copy. A block is the text between a line `<!-- generated: NAME -->` and the next line
//! `<!-- end generated -->`; [`block`] makes each NAME's text from the library functions that
//! print it, and `tests/docs` checks every block in the pages against it.

use crate::error::{Error, Result};
use crate::scenario::files;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every generated block: the default study's table, the fault table, the accuracy tables, and
/// the copies of the TUI capture and of the two CI examples.
pub const BLOCKS: &[&str] = &[
    "default-study",
    "fault-table",
    "accuracy",
    "tui-capture",
    "ci-github-actions",
    "ci-k8s-indexed-job",
];

/// A block's first line is this, the block's name and ` -->`.
pub const BEGIN: &str = "<!-- generated: ";
/// A block's last line.
pub const END: &str = "<!-- end generated -->";

/// The clone whose docs are rewritten: the working directory when it holds the book, otherwise
/// the clone the binary was built from (as `gpuslice accuracy` finds its measured runs).
pub fn default_root() -> PathBuf {
    if Path::new("docs/src/SUMMARY.md").exists() {
        PathBuf::from(".")
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }
}

/// The pages that may hold generated blocks, relative to `root`: README.md and every Markdown
/// file under docs/src, sorted.
pub fn pages(root: &Path) -> Result<Vec<String>> {
    fn walk(root: &Path, rel: &str, out: &mut Vec<String>) -> Result<()> {
        let dir = root.join(rel);
        for e in std::fs::read_dir(&dir).map_err(|e| Error::io(dir.display(), e))? {
            let e = e.map_err(|e| Error::io(dir.display(), e))?;
            let name = e.file_name().to_string_lossy().to_string();
            let path = format!("{rel}/{name}");
            if e.path().is_dir() {
                walk(root, &path, out)?;
            } else if name.ends_with(".md") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = vec!["README.md".to_string()];
    walk(root, "docs/src", &mut out)?;
    out[1..].sort();
    Ok(out)
}

/// The text of block `name` as it stands between its two marker lines: a blank line, the
/// program's output (or the copied file, fenced), a blank line.
pub fn block(name: &str, root: &Path) -> Result<String> {
    let read = |rel: &str| {
        let p = root.join(rel);
        std::fs::read_to_string(&p).map_err(|e| Error::io(p.display(), e))
    };
    // A copy of a CI example without its leading comment, which the page says in prose.
    let ci = |rel: &str| -> Result<String> {
        let text = read(rel)?;
        let body: String = text.lines().skip_while(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
        Ok(format!("```yaml\n{body}```"))
    };
    let body = match name {
        "default-study" => {
            let sc = files::default_scenario()?;
            format!(
                "```\n{}```",
                crate::out::table::table(&sc.name, 1, &crate::sim::run_scenario(&sc, 1)?)
            )
        }
        "fault-table" => fault_table(root)?,
        "accuracy" => crate::validate::accuracy::accuracy_markdown(&root.join("traces").display().to_string())?,
        "tui-capture" => format!("```text\n{}```", read("docs/tui-capture.txt")?),
        "ci-github-actions" => ci("docs/ci/github-actions-sweep.yml")?,
        "ci-k8s-indexed-job" => ci("docs/ci/k8s-indexed-job.yaml")?,
        _ => {
            return Err(Error::input(
                "",
                "",
                format!("no generated block is called '{name}' (known: {})", BLOCKS.join(", ")),
            ))
        }
    };
    Ok(format!("\n{}\n\n", body.trim_end_matches('\n')))
}

/// The fault-isolation table of the faults chapter: the crash study with each fault kind,
/// availability per model and of turns for every variant.
pub fn fault_table(root: &Path) -> Result<String> {
    let file = root.join("experiments/a100-voice-consolidation-crash.toml").display().to_string();
    let mut s = String::from("| TTS fault kind | dedicated (3 GPUs) | time-sliced | MIG | MPS |\n|---|---|---|---|---|\n");
    for kind in crate::scenario::FaultKind::ALL {
        let kind = kind.name();
        let set = [format!("variant[*].faults[0].kind=\"{kind}\"")];
        let sc = super::load_scenario_with(Some(&file), &set)?;
        let runs = crate::sim::run_scenario(&sc, 1)?;
        s.push_str(&format!("| `{kind}` |"));
        for r in &runs {
            let a = |m: &str| 100.0 * r.failures.availability.get(m).copied().unwrap_or(1.0);
            let turns = r
                .stages
                .values()
                .next()
                .ok_or_else(|| Error::input(&file, "workload", "the crash study has no pipeline"))?;
            s.push_str(&format!(
                " ASR {:.1} %, TTS {:.1} %, turns {:.1} % |",
                a("asr"),
                a("tts"),
                100.0 * turns.availability
            ));
        }
        s.push('\n');
    }
    Ok(s)
}

/// The blocks of a page, in order: each one's name and the text between its marker lines.
pub fn blocks_of(text: &str, page: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, usize)> = None; // name, line, byte offset of its text
    let mut at = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(name) = bare.strip_prefix(BEGIN).and_then(|r| r.strip_suffix(" -->")) {
            if let Some((prev, l, _)) = &open {
                return Err(Error::input(
                    page,
                    "",
                    format!("line {}: block '{prev}' of line {l} is not closed", n + 1),
                ));
            }
            open = Some((name.to_string(), n + 1, at + line.len()));
        } else if bare == END {
            let (name, _, from) = open
                .take()
                .ok_or_else(|| Error::input(page, "", format!("line {}: '{END}' without a block", n + 1)))?;
            out.push((name, text[from..at].to_string()));
        }
        at += line.len();
    }
    if let Some((name, l, _)) = open {
        return Err(Error::input(page, "", format!("block '{name}' of line {l} is not closed")));
    }
    Ok(out)
}

/// `text` with the text of every block replaced by `make(name)`.
pub fn rewrite(text: &str, page: &str, make: &mut dyn FnMut(&str) -> Result<String>) -> Result<String> {
    blocks_of(text, page)?; // every block closed, or nothing is rewritten
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(name) = bare.strip_prefix(BEGIN).and_then(|r| r.strip_suffix(" -->")) {
            out.push_str(line);
            out.push_str(&make(name)?);
            inside = true;
        } else if bare == END {
            out.push_str(line);
            inside = false;
        } else if !inside {
            out.push_str(line);
        }
    }
    Ok(out)
}

/// Rewrites every generated block of every page under `root` (each changed page atomically,
/// whole or not at all) and says, per page with blocks, whether it changed.
pub fn regenerate(root: &Path) -> Result<String> {
    let mut made: BTreeMap<String, String> = BTreeMap::new();
    let mut report = String::new();
    for page in pages(root)? {
        let path = root.join(&page);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
        let n = blocks_of(&text, &page)?.len();
        if n == 0 {
            continue;
        }
        let new = rewrite(&text, &page, &mut |name| {
            if let Some(b) = made.get(name) {
                return Ok(b.clone());
            }
            let b = block(name, root).map_err(|e| e.in_file(&page))?;
            made.insert(name.to_string(), b.clone());
            Ok(b)
        })?;
        let what = if new == text {
            "unchanged"
        } else {
            files::write_atomic(&path.display().to_string(), &new)?;
            "rewritten"
        };
        report.push_str(&format!("{page}: {n} generated block{} {what}\n", if n == 1 { "" } else { "s" }));
    }
    Ok(report)
}
