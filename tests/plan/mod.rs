//! `plan`: the capacity planner. Its GPU count equals brute force by simulation on one model and
//! Erlang C where M/M/c applies; the scenario it emits meets every SLO when run; MIG layouts are
//! valid; the Kubernetes files parse; specs no candidate meets exit 1 with the reason (a model no
//! GPU type holds is an input error, 2); the answer does
//! not depend on the thread count.

use crate::common::*;
use gpuslice::plan::{plan, PlanResult};
use gpuslice::scenario::files::read_scenario;

mod scale;

fn plan_file(path: &str) -> PlanResult {
    let (raw, src) = read_scenario(path).expect("spec reads");
    plan(&raw, &src, &|_, _| {}).expect("plans")
}

/// One model, open loop, whole H100s only: the planner's count is the fewest GPUs whose worst
/// seed meets the SLO, as trying 1, 2, 3, ... GPUs by simulation finds.
#[test]
fn single_model_gpu_count_equals_brute_force() {
    let d = TempDir::new("plan-brute");
    let m = LinearModel {
        max_batch: 4,
        ..LinearModel::default()
    }
    .write(&d, "m");
    let body = |variant: &str| {
        format!(
            r#"
name = "brute"
duration_s = 60
warmup_s = 5
[models.m]
from = "{m}"
[[workload]]
model = "m"
arrivals = {{ process = "poisson", rate_rps = 900 }}
size = {{ dist = "lognormal", median = 10, sigma = 0.5, min = 1, max = 60 }}
[slo]
"m.p95_ms" = 40
[plan]
gpu_types = ["h100-80gb"]
regimes = ["dedicated"]
seeds = 2
{variant}
"#
        )
    };
    let spec = d.write("spec.toml", &body(""));
    let r = plan_file(&spec);
    let best = r.best.as_ref().expect("a plan");
    // Brute force: every count from 1, the same seeds, judged on the worst.
    let brute = (1..=16u32)
        .find(|&n| {
            let sc = parse(&body(&format!(
                "[[variant]]\nname = \"v\"\ngpu = \"h100-80gb\"\ngpus = [{{ regime = \"dedicated\", models = [\"m\"], count = {n} }}]"
            )));
            (1..=2).all(|seed| run(&sc, 0, seed).slo.iter().all(|v| v.met))
        })
        .expect("some count meets the SLO");
    eprintln!("planner {} GPUs, brute force {brute}", best.gpus);
    assert!(brute >= 2, "the case must need more than one GPU to test anything ({brute})");
    assert_eq!(best.gpus, brute);
}

/// M/M/c: exponential sizes (10 ms mean service, mu = 100/s), Poisson arrivals at 450/s, one
/// shared queue, batch 1. Erlang C gives the mean response C/(c mu - lambda) + 1/mu: 25.2 ms
/// at 5 servers, 12.7 ms at 6, so a 18 ms bound needs 6; the planner (by simulation) agrees.
#[test]
fn planner_agrees_with_erlang_c() {
    let d = TempDir::new("plan-erlang");
    let m = LinearModel::default().write(&d, "m");
    let spec = d.write(
        "spec.toml",
        &format!(
            r#"
name = "erlang"
duration_s = 200
warmup_s = 10
[models.m]
from = "{m}"
[[workload]]
model = "m"
arrivals = {{ process = "poisson", rate_rps = 450 }}
size = {{ dist = "exponential", mean = 10 }}
[slo]
"m.mean_ms" = 18
[plan]
gpu_types = ["h100-80gb"]
regimes = ["dedicated"]
balancer = "shared-queue"
seeds = 2
"#
        ),
    );
    let erlang = gpuslice::plan::mmc_servers_for(450.0, 100.0, 0.018, None, 64).expect("Erlang C");
    assert_eq!(erlang, 6);
    let r = plan_file(&spec);
    assert_eq!(r.best.as_ref().expect("a plan").gpus, erlang);
}

/// A small voice pipeline planned over every regime of one GPU type: the emitted scenario,
/// run on each seed, meets every SLO; MIG layouts are valid; the Kubernetes files parse and
/// request the resources the placement needs; the JSON does not depend on the thread count.
#[test]
fn emitted_scenario_meets_the_slos_and_k8s_files_parse() {
    let d = TempDir::new("plan-voice");
    let spec_text = r#"
name = "voice-plan"
duration_s = 40
warmup_s = 5
[models.asr]
from = "h100/asr"
[models.tts]
from = "h100/tts"
max_batch = 8
[models.llm]
from = "h100/llm"
[[workload]]
name = "voice-turn"
pipeline = ["asr", "llm", "tts"]
users = 12
think_s = 1.0
size = { dist = "lognormal", median = 5.8, sigma = 0.6, min = 1.0, max = 30.0 }
out_tokens = { dist = "lognormal", median = 25, sigma = 0.5, min = 4, max = 256 }
[slo]
"voice-turn.p95_ms" = 3000
"asr.p95_ms" = 200
"availability" = 0
[plan]
gpu_types = ["a100-80gb"]
seeds = 2
"#;
    // An SLO key without a metric is refused naming it.
    let bad = d.write("bad.toml", spec_text);
    let (raw, src) = read_scenario(&bad).expect("reads");
    let e = plan(&raw, &src, &|_, _| {}).expect_err("bad slo key").to_string();
    assert!(e.contains("slo.\"availability\""), "{e}");
    let spec = d.write(
        "spec.toml",
        &spec_text.replace("\"availability\" = 0\n", "\"voice-turn.availability\" = 0.99\n"),
    );
    let (raw, src) = read_scenario(&spec).expect("reads");
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let r1 = one.install(|| plan(&raw, &src, &|_, _| {}).expect("plans"));
    let r = plan(&raw, &src, &|_, _| {}).expect("plans");
    assert_eq!(
        gpuslice::out::to_json(&r1),
        gpuslice::out::to_json(&r),
        "thread count changed the plan"
    );
    let best = r.best.as_ref().expect("a plan");
    assert!(r.per_regime.contains_key("mig") && r.per_regime.contains_key("time-sliced"));
    // Every MIG layout of every candidate places on the GPU.
    let gpu = gpuslice::gpu::Catalog::builtin().gpu("a100-80gb").expect("a100").clone();
    for c in &r.candidates {
        for g in c.placement.iter().filter_map(|g| g.layout.as_deref()) {
            assert!(gpuslice::gpu::place_layout(&gpu, g).is_ok(), "{}: invalid layout {g}", c.name);
        }
    }
    // The emitted scenario reproduces the plan: every seed meets every SLO, and the worst
    // value over the seeds is what the plan reported.
    let out = d.join("best.toml");
    std::fs::write(
        &out,
        gpuslice::out::export::emitted_scenario(&raw, &spec, &out, best).expect("emits"),
    )
    .expect("writes");
    let (raw2, src2) = read_scenario(&out).expect("emitted scenario reads");
    let sc = gpuslice::scenario::resolve::from_raw(&raw2, &src2).expect("emitted scenario is valid");
    assert_eq!(sc.variants.len(), 1);
    let runs: Vec<_> = (1..=2).map(|seed| run(&sc, 0, seed)).collect();
    for run in &runs {
        assert!(run.slo.iter().all(|v| v.met), "emitted scenario breaks an SLO: {:?}", run.slo);
    }
    let worst = runs
        .iter()
        .filter_map(|r| r.slo.iter().find(|v| v.key == "voice-turn.p95_ms")?.value)
        .fold(0.0, f64::max);
    assert_eq!(Some(worst), best.slo_values["voice-turn.p95_ms"]);
    // Kubernetes files: each parses as YAML; each model gets a Deployment requesting a GPU or
    // the MIG profile the plan gave it.
    let dir = d.join("k8s");
    let files = gpuslice::out::export::write_k8s(&dir, &raw.name, best).expect("k8s files");
    for f in &files {
        let text = std::fs::read_to_string(f).expect("written");
        if f.ends_with(".yaml") {
            yaml_rust2::YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }
    for g in &best.placement {
        for m in &g.models {
            let dep = files
                .iter()
                .filter(|f| f.contains(&format!("deployment-{m}")))
                .map(|f| std::fs::read_to_string(f).expect("read"))
                .collect::<String>();
            assert!(!dep.is_empty(), "no Deployment for {m} in {files:?}");
            let want = match g.layout.as_deref() {
                Some(_) => "nvidia.com/mig-",
                None => "nvidia.com/gpu",
            };
            assert!(dep.contains(want), "{m}: Deployment does not request {want}:\n{dep}");
        }
    }
}

/// Impossible specs: an SLO below the latency of an idle server, and a model larger than every
/// GPU. No plan, and the reason says why.
#[test]
fn impossible_specs_have_no_plan_and_say_why() {
    let d = TempDir::new("plan-impossible");
    let spec = |model: &str, slo: &str| {
        format!(
            r#"
name = "impossible"
duration_s = 20
warmup_s = 2
[models.asr]
from = "h100/asr"
{model}
[[workload]]
model = "asr"
arrivals = {{ process = "poisson", rate_rps = 20 }}
size = {{ dist = "fixed", value = 5 }}
[slo]
{slo}
[plan]
gpu_types = ["h100-80gb"]
max_gpus = 8
seeds = 1
"#
        )
    };
    let r = plan_file(&d.write("fast.toml", &spec("", "\"asr.p95_ms\" = 1")));
    assert!(r.best.is_none());
    let why = r.reason.expect("a reason");
    assert!(why.contains("asr.p95_ms") && why.contains("bound 1"), "{why}");
    // Through the binary: exit status 1, the reason on stdout.
    let out = gpuslice(&["plan", &d.join("fast.toml")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("no plan: no candidate within 8 GPUs meets every SLO"));
    // A model that no GPU of plan.gpu_types holds is a mistake in the spec, not a plan searched
    // and not found: refused naming the field (exit 2), before any simulation.
    let big = d.write("big.toml", &spec("memory_gib = 100", "\"asr.p95_ms\" = 500"));
    let (raw, src) = read_scenario(&big).expect("spec reads");
    let e = plan(&raw, &src, &|_, _| {}).expect_err("refused").to_string();
    assert!(
        e.contains("models.asr.memory_gib") && e.contains("needs 100 GiB") && e.contains("h100-80gb"),
        "{e}"
    );
    let out = gpuslice(&["plan", &big]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stdout).is_empty());
}

/// `--load-range` keeps one GPU type and regime at every level: the family whose plans, summed
/// over the levels, cost least among those with a plan at every level; each level's plan is what
/// the planner finds when given that family alone; no family is cheaper at a level than the
/// cheapest of any family shown there.
#[test]
fn a_load_range_keeps_the_family_cheapest_over_the_range() {
    use gpuslice::plan::projection::project;
    let d = TempDir::new("plan-range");
    let spec = asr_tts_open_loop(
        "name = \"range\"",
        "[plan]\ngpu_types = [\"h100-80gb\", \"a100-80gb\"]\nregimes = [\"dedicated\", \"mps\"]\nseeds = 1\n",
    );
    let path = d.write("spec.toml", &spec);
    let (raw, src) = read_scenario(&path).expect("spec reads");
    let levels = [(1.0, 1.0), (4.0, 4.0)];
    let p = project(&raw, &src, "multiplier", &levels, &|_, _| {}).expect("projects");
    let f = p.family.clone().expect("a family");
    assert_eq!(p.families[0], f);
    let mut sum = 0.0;
    for l in &p.levels {
        let b = l.best.as_ref().expect("a plan at every level");
        assert_eq!((b.gpu_type.as_str(), b.regime), (f.gpu_type.as_str(), f.regime), "{}", b.name);
        let any = l.cheapest_any.as_ref().expect("some plan");
        assert!(
            any.nodes.node_cost_per_hour_usd <= b.nodes.node_cost_per_hour_usd,
            "{} vs {}",
            any.name,
            b.name
        );
        sum += b.nodes.node_cost_per_hour_usd;
        // The family alone, planned at this level, costs the same.
        let mut alone = raw.clone();
        let plan_t = alone.plan.as_mut().expect("[plan]");
        plan_t.gpu_types = vec![f.gpu_type.clone()];
        plan_t.regimes = vec![f.regime];
        let r = gpuslice::plan::plan_at(&alone, &src, l.factor, false, &|_, _| {}).expect("plans");
        let rb = r.best.expect("the family alone has a plan");
        assert_eq!(
            rb.nodes.node_cost_per_hour_usd, b.nodes.node_cost_per_hour_usd,
            "{} vs {}",
            rb.name, b.name
        );
    }
    assert!((sum - f.node_usd_per_hour_sum).abs() < 0.01, "{sum} vs {}", f.node_usd_per_hour_sum);
    for o in p.families.iter().filter(|o| o.levels_with_plan == levels.len()) {
        assert!(
            f.node_usd_per_hour_sum <= o.node_usd_per_hour_sum,
            "{} beats the kept {}",
            o.label(),
            f.label()
        );
    }
    assert!(p.family_reason.contains("every level"), "{}", p.family_reason);
}
