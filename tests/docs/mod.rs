//! `docs`: the figures in README.md are the program's current output, not stale copies.
//! If one of these fails after a model change, regenerate the README block with the command named
//! in the message.

fn readme() -> String {
    std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).expect("README.md")
}

#[test]
fn readme_accuracy_tables_are_current() {
    let root = format!("{}/traces", env!("CARGO_MANIFEST_DIR"));
    let now = gpuslice::validate::accuracy_markdown(&root).expect("accuracy");
    assert!(
        readme().contains(now.trim()),
        "README 'How accurate is it' differs from `gpuslice accuracy`; paste its output there"
    );
}

#[test]
fn readme_default_study_is_current() {
    let sc = gpuslice::config::files::default_scenario().expect("default scenario");
    let runs = gpuslice::sim::run_scenario(&sc, 1).expect("runs");
    let now = gpuslice::report::table(&sc.name, 1, &runs);
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
    let sc = gpuslice::config::files::parse_scenario(&text[start..end], "README.md", None).expect("README example parses");
    let runs = gpuslice::sim::run_scenario(&sc, 1).expect("runs");
    assert_eq!(runs[0].gpus, 5);
    assert!(runs[0].completed > 0 && runs[0].failures.crashes == 1);
}
