//! `docs`: the figures in README.md are the program's current output, not stale copies.
//! If one of these fails after a model change, regenerate the README block with the command named
//! in the message.

fn readme() -> String {
    std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).expect("README.md")
}

#[test]
fn readme_accuracy_tables_are_current() {
    let root = format!("{}/traces", env!("CARGO_MANIFEST_DIR"));
    let now = gpuslice::validate::accuracy::accuracy_markdown(&root).expect("accuracy");
    assert!(
        readme().contains(now.trim()),
        "README 'How accurate is it' differs from `gpuslice accuracy`; paste its output there"
    );
}

#[test]
fn readme_default_study_is_current() {
    let sc = gpuslice::scenario::files::default_scenario().expect("default scenario");
    let runs = gpuslice::sim::run_scenario(&sc, 1).expect("runs");
    let now = gpuslice::out::table::table(&sc.name, 1, &runs);
    assert!(
        readme().contains(&now),
        "README default study differs from `cargo run --release -- run`; paste its output there"
    );
}

/// The scenario example in README "Scenario files" is a complete, valid scenario.
#[test]
fn readme_scenario_example_is_valid() {
    let text = readme();
    let start = text.find("```toml\nname = \"readme-example\"").expect("README has the example") + "```toml\n".len();
    let end = start + text[start..].find("```").expect("closing fence");
    let sc = gpuslice::scenario::files::parse_scenario(&text[start..end], "README.md", None).expect("README example parses");
    let runs = gpuslice::sim::run_scenario(&sc, 1).expect("runs");
    assert_eq!(runs[0].gpus, 5);
    assert!(runs[0].completed > 0 && runs[0].failures.crashes == 1);
}

/// The fault-isolation table of README "Faults": the crash study with each fault kind.
fn fault_table() -> String {
    let file = format!("{}/experiments/a100-voice-consolidation-crash.toml", env!("CARGO_MANIFEST_DIR"));
    let mut s = String::from("| TTS fault kind | dedicated (3 GPUs) | time-sliced | MIG | MPS |\n|---|---|---|---|---|\n");
    for kind in ["process", "context-error", "memory-exhaustion", "device-reset"] {
        let set = [format!("variant[*].faults[0].kind=\"{kind}\"")];
        let sc = gpuslice::cli::load_scenario_with(Some(&file), &set).expect("crash study");
        let runs = gpuslice::sim::run_scenario(&sc, 1).expect("runs");
        s.push_str(&format!("| `{kind}` |"));
        for r in &runs {
            let a = |m: &str| 100.0 * r.failures.availability.get(m).copied().unwrap_or(1.0);
            let turns = r.stages.values().next().expect("the voice pipeline");
            s.push_str(&format!(
                " ASR {:.1} %, TTS {:.1} %, turns {:.1} % |",
                a("asr"),
                a("tts"),
                100.0 * turns.availability
            ));
        }
        s.push('\n');
    }
    s
}

#[test]
fn readme_fault_table_is_current() {
    let now = fault_table();
    assert!(readme().contains(&now), "README 'Faults' table differs; paste:\n{now}");
}

/// README "Layout": no module of the crate imports another that imports it back (directly or
/// through others). Comments and test modules are left out; submodules count as their parent.
#[test]
fn module_imports_have_no_circles() {
    use std::collections::{BTreeMap, BTreeSet};
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
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &all {
        let rel = f.strip_prefix(&src).expect("under src").to_string_lossy().to_string();
        let module = rel.split(['/', '.']).next().expect("a name").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for part in line.split("crate::").skip(1) {
                let dep: String = part.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if !dep.is_empty() && dep != module {
                    deps.entry(module.clone()).or_default().insert(dep);
                }
            }
        }
    }
    let reaches = |from: &str, to: &str| {
        let mut stack = vec![from.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(m) = stack.pop() {
            for d in deps.get(&m).into_iter().flatten() {
                if d == to {
                    return true;
                }
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        false
    };
    let circles: Vec<(String, String)> = deps
        .iter()
        .flat_map(|(m, ds)| ds.iter().map(move |d| (m.clone(), d.clone())))
        .filter(|(m, d)| reaches(d, m))
        .collect();
    assert!(circles.is_empty(), "modules importing each other back: {circles:?}");
}
