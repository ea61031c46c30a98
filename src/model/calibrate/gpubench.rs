//! The calibration servers of `traces/bench/gpubench.py` as base model specs: what a fit starts
//! from (ops, buckets, memory, host timing) before the measured tables replace the latencies.

use super::{FitForm, OpBase};
use crate::model::arch::Family;
use crate::model::{LlmSpec, MemoryFootprint, ModelSpec, Scaling, ServiceKind};
use std::collections::BTreeMap;

/// The servers of `gpubench.py` (traces/h100/README.md, "The serving policy of the runs"):
/// buckets, batch limits, KV slots and memory, i.e. everything but the fitted latency tables.
pub fn gpubench_base(kind: ServiceKind) -> (ModelSpec, Vec<OpBase>) {
    let (name, description, weights_gb, runtime_gib, max_batch): (&str, &str, f64, f64, u32) = match kind {
        // 1.02 B params bf16 = 2.04 GB; CUDA context + graph pool ~1 GiB (not measured: estimate).
        ServiceKind::Asr => (
            "asr",
            "Parakeet-1.1B FastConformer encoder + CTC shape (gpubench asr)",
            2.04,
            1.0,
            16,
        ),
        // 0.26 B params = 0.52 GB; 16-way graphs, KV and cross-attention buffers ~1 GiB (estimate).
        ServiceKind::Tts => ("tts", "Magpie-like encoder-decoder TTS shape (gpubench tts)", 0.52, 1.0, 16),
        // 8.03 B params = 16.06 GB; KV cache 32 slots x 3072 tokens = 12.9 GB (traces/h100/README.md) + 1 GiB context.
        ServiceKind::Llm => (
            "llm",
            "Llama-3.1-8B decoder shape (gpubench llm)",
            16.06,
            12.9 / 1.073_741_824 + 1.0,
            32,
        ),
        // No gpubench server: a user's encoder, sized by the calibration's flags or architecture.
        ServiceKind::Encoder => ("encoder", "text encoder (user-measured)", 0.0, 1.0, 32),
    };
    let ops = match kind {
        ServiceKind::Asr => vec![
            OpBase {
                name: "encode",
                batch_buckets: vec![1, 2, 4, 8, 16, 32],
                size_buckets: vec![5.0, 10.0, 20.0, 30.0],
                size_axis: vec![],
                form: FitForm::Cells,
                optional: false,
            },
            // Streaming chunks: one unpadded graph per chunk length (gpubench profile --chunks).
            OpBase {
                name: "encode_chunk",
                batch_buckets: vec![1, 2, 4, 8, 16, 32, 64],
                size_buckets: vec![0.16, 0.32, 0.64, 1.28],
                size_axis: vec![],
                form: FitForm::Cells,
                optional: true,
            },
        ],
        // Buckets come from the user's measurements or flags.
        ServiceKind::Encoder => vec![OpBase {
            name: "encode",
            batch_buckets: vec![1, 2, 4, 8, 16, 32],
            size_buckets: vec![32.0, 64.0, 128.0, 256.0, 512.0],
            size_axis: vec![],
            form: FitForm::Cells,
            optional: false,
        }],
        ServiceKind::Tts => vec![OpBase {
            name: "synthesize",
            batch_buckets: vec![1, 2, 4, 8, 16],
            size_buckets: vec![],
            size_axis: vec![4.0, 1023.0],
            form: FitForm::LinearInSize,
            optional: false,
        }],
        ServiceKind::Llm => vec![
            OpBase {
                name: "prefill",
                batch_buckets: vec![1],
                size_buckets: vec![128.0, 256.0, 512.0, 1024.0, 2048.0],
                size_axis: vec![],
                form: FitForm::Cells,
                optional: false,
            },
            OpBase {
                name: "decode",
                batch_buckets: vec![1, 2, 4, 8, 16, 32],
                size_buckets: vec![512.0, 1024.0, 2048.0, 3072.0],
                size_axis: vec![],
                form: FitForm::Cells,
                optional: false,
            },
        ],
    };
    let spec = ModelSpec {
        name: name.into(),
        kind,
        reference_gpu: "h100-80gb".into(),
        description: description.into(),
        memory: MemoryFootprint {
            weights_gib: weights_gb / 1.073_741_824,
            runtime_gib,
        },
        max_batch,
        dispatch_ms: 0.0,
        call_gap_ms: 0.0,
        // Uninterrupted co-located calls over solo calls of the same shape, light-load runs
        // (traces/h200/analysis_ts.txt, section 13); the same with or without another context's
        // work around the call (section 15: alone 0.900-0.913, 0.887-0.889, 0.953-0.961); applied as
        // a saving of (1 - this) x the batch-1 time per call, which section 16 finds constant.
        shared_time_fraction: match kind {
            ServiceKind::Asr => 0.911,
            ServiceKind::Tts => 0.888,
            ServiceKind::Llm => 0.960,
            // Not measured for an encoder: no saving assumed.
            ServiceKind::Encoder => 1.0,
        },
        // The LLM server copies the batch's sequence lengths (pageable, synchronous) before every
        // prefill and decode graph: 0.12 ms from the call's start event to the copy's end event
        // in the solo H200 run (section 12, llm_H begin->h2d median).
        sync_copy_ms: if kind == ServiceKind::Llm { 0.12 } else { 0.0 },
        // The TTS server's eager text encoder keeps the host busy and the GPU nearly idle before
        // the decoder's first frame: 7.41 ms median from the call's start event to its `enc`
        // event in the solo H200 run (traces/h200/analysis_ts.txt, section 11, tts_H).
        host_phase_ms: if kind == ServiceKind::Tts { 7.41 } else { 0.0 },
        // Set from the serving logs (`first_call_excess`).
        cold_call_ms: 0.0,
        call_noise: 0.0,
        // gpubench.py `serve` runs one call before the clock starts: ASR at batch 4, TTS at
        // batch 2 (the LLM's graphs are all captured up front).
        warm_batches: match kind {
            ServiceKind::Asr => vec![4],
            ServiceKind::Tts => vec![2],
            ServiceKind::Llm | ServiceKind::Encoder => vec![],
        },
        frames_per_char: (kind == ServiceKind::Tts).then_some(21.5 / 15.0),
        // Replaced by the clamp the serving logs show (`frame_clamp`); an end they never reach
        // keeps this.
        frames_range: (kind == ServiceKind::Tts).then_some((4, 1023)),
        frames_per_s: (kind == ServiceKind::Tts).then_some(crate::model::DEFAULT_FRAMES_PER_S),
        llm: (kind == ServiceKind::Llm).then(LlmSpec::gpubench),
        asr_mode: crate::model::AsrMode::Offline,
        chunk_s: 0.32,
        tts_policy: crate::model::TtsPolicy::Static,
        first_chunk_frames: 22,
        ops: BTreeMap::new(),
        memory_override: false,
        // Set by the scaling fit.
        scaling: Scaling {
            sm_bw_gbps: 120.0,
            knee: 3.0,
        },
        // The shape gpubench builds (traces/h100/README.md): what tensor parallelism splits.
        arch: match kind {
            ServiceKind::Asr => Some(Family::Encode.measured_arch()),
            ServiceKind::Tts => Some(Family::Synthesize.measured_arch()),
            ServiceKind::Llm => Some(Family::Decode.measured_arch()),
            ServiceKind::Encoder => None,
        },
        size_unit: None,
        tensor_parallel: 1,
        pipeline_parallel: 1,
        calibration: serde_json::Value::Null,
    };
    (spec, ops)
}
