//! Background work: simulating a whole variant. Runs on a worker thread spawned by the run loop
//! (see [`super::run`]); the result goes back to the UI thread as a
//! [`super::message::Message::RunDone`], so the draw loop never waits for a simulation.

use super::app::VariantRun;
use crate::scenario::Scenario;
use crate::sim::Simulation;

/// Simulate variant `v` of `scenario` to its horizon: the same run as `gpuslice run` (which
/// calls [`Simulation::run_to_end`]), plus every model's latency sketch for the latency view.
pub fn run_variant(scenario: &Scenario, v: usize, seed: u64) -> Result<VariantRun, String> {
    let mut sim = Simulation::new(scenario, v, seed).map_err(|e| e.to_string())?;
    while sim.step() {}
    let latencies = (0..scenario.models.len()).map(|m| sim.model_sketch(m).clone()).collect();
    Ok(VariantRun {
        summary: sim.summary(),
        latencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::out::to_json;

    #[test]
    fn worker_run_equals_run_scenario() {
        let app = crate::tui::update::tests::small_app();
        let batch = crate::sim::run_scenario(&app.scenario, 1).expect("runs");
        for (v, b) in batch.iter().enumerate() {
            let w = run_variant(&app.scenario, v, 1).expect("runs");
            assert_eq!(to_json(&w.summary), to_json(b), "variant {v}");
            assert_eq!(
                w.latencies[0].count(),
                b.models["asr"].completed,
                "the sketch holds every measured request"
            );
        }
    }
}
