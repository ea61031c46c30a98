//! The model file: what a server of a model does and how long its calls take, as `gpuslice
//! calibrate` writes it and a scenario's `from` reads it (JSON, unknown fields refused), with its
//! own consistency check. The simulator runs the [`super::Model`] resolved from it.

use super::{OpTable, Scaling};
use crate::limits;
use serde::{Deserialize, Serialize};

pub use crate::limits::MAX_BATCH;

/// Which server behaviour a model has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// Dynamic batching of whole utterances (one `encode` call per batch).
    Asr,
    /// Autoregressive synthesis of whole replies (one `synthesize` call per batch).
    Tts,
    /// Continuous batching with `prefill` and `decode` calls.
    Llm,
    /// Dynamic batching of whole text inputs (one `encode` call per batch over padded tokens):
    /// embedding models, rerankers, classifiers.
    Encoder,
}

impl ServiceKind {
    /// Short name: `asr`, `tts`, `llm` or `encoder`.
    pub fn label(self) -> &'static str {
        match self {
            ServiceKind::Asr => "asr",
            ServiceKind::Tts => "tts",
            ServiceKind::Llm => "llm",
            ServiceKind::Encoder => "encoder",
        }
    }

    /// Whether a pipeline stage of this kind can feed one of kind `next`: the simulator derives
    /// the next stage's request size from the previous stage's kind (words of a transcript to
    /// prompt tokens, reply tokens to characters, words to characters) or, between stages of one
    /// kind, passes the size on. Any other order (a TTS before an LLM, anything before an ASR)
    /// would give a stage a size in the wrong unit, so it is refused where the pipeline is read.
    pub fn feeds(self, next: ServiceKind) -> bool {
        use ServiceKind::*;
        self == next || matches!((self, next), (Asr, Llm) | (Llm, Tts) | (Asr, Tts))
    }

    /// Name of the request-size axis for this kind (an encoder's default unit; see
    /// [`ModelSpec::size_unit`]).
    pub fn size_name(self) -> &'static str {
        match self {
            ServiceKind::Asr => "audio_s",
            ServiceKind::Tts => "chars",
            ServiceKind::Llm => "prompt_tokens",
            ServiceKind::Encoder => "tokens",
        }
    }
}

/// The size unit of an encoder's requests.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SizeUnit {
    /// Text tokens (embeddings, rerankers, classifiers).
    #[default]
    Tokens,
    /// Audio seconds (offline ASR).
    Seconds,
    /// Image pixels.
    Pixels,
}

impl SizeUnit {
    /// The column name of this unit in profiles and traces.
    pub fn name(self) -> &'static str {
        match self {
            SizeUnit::Tokens => "tokens",
            SizeUnit::Seconds => "audio_s",
            SizeUnit::Pixels => "pixels",
        }
    }
}

/// Memory a model server holds on its device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MemoryFootprint {
    /// Weights [GiB].
    pub weights_gib: f64,
    /// KV cache, CUDA graphs, activations and the CUDA context [GiB].
    pub runtime_gib: f64,
}

impl MemoryFootprint {
    /// Total [GiB].
    pub fn total_gib(&self) -> f64 {
        self.weights_gib + self.runtime_gib
    }

    /// A footprint larger than the largest GPU of the catalog fits nowhere: refused where it is
    /// written (naming its larger part), with a hint when the figure looks like MiB or bytes.
    pub fn check_fits_a_gpu(&self, file: &str) -> crate::error::Result<()> {
        let Some(g) = crate::gpu::Catalog::builtin().largest_memory() else {
            return Ok(());
        };
        let total = self.total_gib();
        // NaN and negative figures are the bound check's to report.
        if !(total.is_finite() && total > g.memory_gib && self.weights_gib >= 0.0 && self.runtime_gib >= 0.0) {
            return Ok(());
        }
        let (k, v) = if self.weights_gib >= self.runtime_gib {
            ("memory.weights_gib", self.weights_gib)
        } else {
            ("memory.runtime_gib", self.runtime_gib)
        };
        Err(crate::error::Error::input(
            file,
            k,
            format!(
                "'{}': the model's {} GiB do not fit on any GPU (the largest, {}, holds {} GiB){}",
                crate::error::num(v),
                crate::error::num(total),
                g.name,
                g.memory_gib,
                limits::unit_hint(v, g.memory_gib, "GiB", limits::GIB_SLIPS)
            ),
        ))
    }
}

/// An LLM server: its scheduler, limits, and the model shape that sizes its KV cache.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LlmSpec {
    /// Scheduler policy.
    pub policy: LlmPolicy,
    /// Most sequences running at once (vLLM `max_num_seqs`).
    pub max_seqs: u32,
    /// Longest prompt + output of one sequence [tokens] (vLLM `max_model_len`).
    pub max_context_tokens: u32,
    /// `chunked`: most tokens (prefill chunks + one per decode) in one step.
    pub max_num_batched_tokens: u32,
    /// Paged KV cache: tokens per block (vLLM `block_size`).
    pub kv_block_tokens: u32,
    /// Share of the device or slice memory the server takes when its footprint is not given.
    pub gpu_memory_utilization: f64,
    /// Transformer layers.
    pub layers: u32,
    /// Key/value heads per layer (grouped-query attention).
    pub kv_heads: u32,
    /// Size of one head [elements].
    pub head_dim: u32,
    /// Bytes per cached element (2 for bf16/fp16, 1 for fp8).
    pub kv_bytes_per_element: u32,
    /// Memory kept free of KV blocks for activations, CUDA graphs and the CUDA context [GiB].
    pub activation_reserve_gib: f64,
}

impl LlmSpec {
    /// The calibration server of traces/h100 (gpubench.py `serve llm`): prefill-first, 32
    /// sequences of at most 3072 tokens, Llama-3.1-8B shape (32 layers, 8 KV heads of 128,
    /// bf16); its preallocated cache (32 x 3072 tokens = 12.9 GB) plus ~1 GiB of context and
    /// graphs is the runtime memory of its model file. The chunked budget (8192 tokens), block
    /// size (16) and memory share (0.9) are vLLM's defaults, used when the policy is changed.
    pub fn gpubench() -> LlmSpec {
        LlmSpec {
            policy: LlmPolicy::PrefillFirst,
            max_seqs: 32,
            max_context_tokens: 3072,
            max_num_batched_tokens: 8192,
            kv_block_tokens: 16,
            gpu_memory_utilization: 0.9,
            layers: 32,
            kv_heads: 8,
            head_dim: 128,
            kv_bytes_per_element: 2,
            activation_reserve_gib: 1.0,
        }
    }

    /// KV-cache bytes one token occupies: keys and values of every layer.
    pub fn kv_bytes_per_token(&self) -> f64 {
        2.0 * f64::from(self.layers) * f64::from(self.kv_heads) * f64::from(self.head_dim) * f64::from(self.kv_bytes_per_element)
    }
}

/// A calibrated model: what a server of this model does and how long its calls take.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Model name, e.g. `asr`.
    pub name: String,
    /// Server behaviour.
    pub kind: ServiceKind,
    /// Catalog key of the GPU the tables were measured on.
    pub reference_gpu: String,
    /// What the model stands for.
    pub description: String,
    /// Device memory of one server.
    pub memory: MemoryFootprint,
    /// Most requests per ASR/TTS batch (LLM: see `llm.max_seqs`).
    pub max_batch: u32,
    /// Delay from a request's arrival at an idle server to its first GPU call [ms].
    pub dispatch_ms: f64,
    /// On a time-sliced GPU shared with other contexts, a call takes (1 - this) x its batch-1
    /// solo time less than solo: at batch 1 it takes this fraction of its solo time. Measured on
    /// every call of a co-located server, whether another context had work around it or not,
    /// and about constant per call over batch sizes (traces/h200/analysis_ts.txt, sections 13,
    /// 15, 16): not a backlog launched while waiting; the solo runs are simply slower.
    /// (`gpu_busy_fraction`: its name before that was measured.)
    #[serde(default = "one", skip_serializing_if = "is_one", alias = "gpu_busy_fraction")]
    pub shared_time_fraction: f64,
    /// Host-bound time at the start of each call [ms of its solo time], in which the server asks
    /// almost nothing of the GPU (TTS: its eager text encoder). On a time-sliced GPU the other
    /// contexts run meanwhile; elsewhere it makes no difference. ASR and TTS servers that run
    /// whole calls (not streaming or in-flight); not with `sync_copy_ms`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub host_phase_ms: f64,
    /// Extra host time of a server's first call at each padded batch size it has not run since
    /// it started [ms] (the TTS server's eager encoder meets a new batch shape: allocations and
    /// library set-up; 44-117 ms on the measured server's solo logs, docs/src/model/time-slicing.md,
    /// "What the solo serving logs showed"). ASR and TTS servers that run whole calls; a restarted server is cold again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cold_call_ms: f64,
    /// Spread of one call's time around the table: sigma of ln(measured / table) over the
    /// calls of the serving logs (robust). Each ASR call (streaming chunks too) and each static
    /// TTS call is drawn as table x exp(sigma z), z standard normal, from the server's own
    /// seeded stream (in-flight TTS frame steps stay exact): near saturation a few percent on
    /// each call decide how queues form, as on the real GPU.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub call_noise: f64,
    /// Padded batch sizes the server runs while it starts (its warm-up), never cold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warm_batches: Vec<u32>,
    /// A synchronous host-to-device copy before each call's kernels [ms of solo time]: one more
    /// host-GPU round trip, which on a time-sliced GPU waits for the other contexts' slices.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sync_copy_ms: f64,
    /// Host time between two consecutive GPU calls of a busy server [ms].
    pub call_gap_ms: f64,
    /// TTS only: codec frames per input character (frames = round(chars * this)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames_per_char: Option<f64>,
    /// TTS only: (min, max) frames per reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames_range: Option<(u32, u32)>,
    /// TTS only: codec frames per second of audio, which turns a reply's frames into the time a
    /// listener spends hearing it (default [`DEFAULT_FRAMES_PER_S`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames_per_s: Option<f64>,
    /// LLM only: scheduler, limits and KV-cache shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmSpec>,
    /// ASR only: whole utterances or streaming chunks.
    #[serde(default = "d_asr_mode", skip_serializing_if = "is_offline")]
    pub asr_mode: AsrMode,
    /// Streaming ASR: audio per chunk call [s].
    #[serde(default = "d_chunk_s", skip_serializing_if = "is_default_chunk")]
    pub chunk_s: f64,
    /// TTS only: static batches or in-flight frame steps.
    #[serde(default = "d_tts_policy", skip_serializing_if = "is_static")]
    pub tts_policy: TtsPolicy,
    /// In-flight TTS: frames before the first audio chunk is returned.
    #[serde(default = "d_first_chunk", skip_serializing_if = "is_default_first_chunk")]
    pub first_chunk_frames: u32,
    /// Latency tables by op: ASR `encode`; TTS `synthesize`; LLM `prefill` (batch 1) and `decode`.
    pub ops: std::collections::BTreeMap<String, OpTable>,
    /// Memory-system parameters of the device scaling model (see [`scaling`]).
    pub scaling: Scaling,
    /// Set when a scenario gives the server's memory (`memory_gib`): an LLM server then holds
    /// exactly that, whatever its policy.
    #[serde(skip)]
    pub memory_override: bool,
    /// LLM only: GPUs each layer's weights, KV cache and work are split across, with two
    /// all-reduces per layer over the GPU type's interconnect (docs/src/model/parallelism.md).
    #[serde(default = "one_u32", skip_serializing_if = "is_one_u32")]
    pub tensor_parallel: u32,
    /// LLM only: stages the layers are split into, one GPU group (of `tensor_parallel`) each,
    /// with one activation hand-off between consecutive stages per step.
    #[serde(default = "one_u32", skip_serializing_if = "is_one_u32")]
    pub pipeline_parallel: u32,
    /// Encoder only: the unit of a request's size (default tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_unit: Option<SizeUnit>,
    /// The transformer shape the tables were derived from, for a model defined by its
    /// architecture (see [`super::arch`]): what tensor parallelism splits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<super::arch::Arch>,
    /// Where the data came from and how well the tables fit it (written by `gpuslice calibrate`).
    #[serde(default)]
    pub calibration: serde_json::Value,
}

fn one() -> f64 {
    1.0
}
fn one_u32() -> u32 {
    1
}
fn is_one_u32(x: &u32) -> bool {
    *x == 1
}
fn is_one(x: &f64) -> bool {
    *x == 1.0
}
fn is_zero(x: &f64) -> bool {
    *x == 0.0
}
fn d_asr_mode() -> AsrMode {
    AsrMode::Offline
}
fn is_offline(m: &AsrMode) -> bool {
    *m == AsrMode::Offline
}
/// Default streaming chunk: 0.32 s, one of the chunk lengths profiled (traces/h200/sms) and
/// between the 160 ms and 560 ms chunks of NVIDIA's streaming ASR models (docs/sources.md S7.5).
fn d_chunk_s() -> f64 {
    0.32
}
fn is_default_chunk(x: &f64) -> bool {
    *x == d_chunk_s()
}
fn d_tts_policy() -> TtsPolicy {
    TtsPolicy::Static
}
fn is_static(p: &TtsPolicy) -> bool {
    *p == TtsPolicy::Static
}
/// Default first audio chunk: 22 frames, about 1 s of audio at 21.5 frames/s.
fn d_first_chunk() -> u32 {
    22
}
fn is_default_first_chunk(n: &u32) -> bool {
    *n == d_first_chunk()
}

/// Codec frames per second of audio when a TTS model does not state its own: Magpie TTS's
/// NanoCodec runs at 21.5 frames/s (docs/sources.md S7.3), the shape the built-in TTS model
/// stands for.
pub const DEFAULT_FRAMES_PER_S: f64 = 21.5;

/// Codec frames per character when a TTS model does not state it: 21.5 frames/s of audio at 15
/// characters/s of speech (the calibration shape, traces/h100/README.md).
pub const DEFAULT_FRAMES_PER_CHAR: f64 = 21.5 / 15.0;

/// Fewest and most frames of a reply when a TTS model does not state them.
pub const DEFAULT_FRAMES_RANGE: (u32, u32) = (4, 1023);

impl ModelSpec {
    /// Its tables were derived from its architecture ([`super::arch::derive`] says so in its
    /// provenance), not measured.
    pub fn from_architecture(&self) -> bool {
        self.calibration.get("source").and_then(|v| v.as_str()) == Some("architecture")
    }

    /// Parse and check a model JSON text; `name` is the file for messages.
    pub fn parse(text: &str, name: &str) -> crate::error::Result<ModelSpec> {
        let m: ModelSpec = serde_json::from_str(text).map_err(|e| {
            // A syntax error (garbage, an empty file, a NaN literal JSON does not have) says so; a
            // wrong field or type is serde's own message, which names it.
            let what = if e.is_syntax() || e.is_eof() { "not valid JSON: " } else { "" };
            crate::error::Error::input(name, "", format!("{what}{e}"))
        })?;
        m.validate(name)?;
        Ok(m)
    }

    /// The fastest call the model's first op can make on its reference GPU [ms]: the smallest
    /// latency in its table (work estimates for the limits).
    pub fn min_call_ms(&self) -> f64 {
        let op = match self.kind {
            ServiceKind::Asr | ServiceKind::Encoder => "encode",
            ServiceKind::Tts => "synthesize",
            ServiceKind::Llm => "prefill",
        };
        self.ops
            .get(op)
            .map(|t| t.latency_ms.iter().flatten().copied().fold(f64::INFINITY, f64::min))
            .unwrap_or(1.0)
            .max(1e-3)
    }

    /// The op table `name`; model files are validated to contain the ops their kind needs.
    pub fn op(&self, name: &str) -> &OpTable {
        &self.ops[name]
    }

    /// Ops a model of `kind` must have.
    pub fn required_ops(kind: ServiceKind) -> &'static [&'static str] {
        match kind {
            ServiceKind::Asr | ServiceKind::Encoder => &["encode"],
            ServiceKind::Tts => &["synthesize"],
            ServiceKind::Llm => &["prefill", "decode"],
        }
    }

    /// TTS frames for a reply of `chars` characters.
    pub fn tts_frames(&self, chars: f64) -> f64 {
        let fpc = self.frames_per_char.unwrap_or(DEFAULT_FRAMES_PER_CHAR);
        let (lo, hi) = self.frames_range.unwrap_or(DEFAULT_FRAMES_RANGE);
        (chars * fpc).round().clamp(lo as f64, hi as f64)
    }

    /// Audio duration of `frames` TTS frames [s]: how long a listener hears a reply.
    pub fn tts_audio_s(&self, frames: f64) -> f64 {
        frames / self.frames_per_s.unwrap_or(DEFAULT_FRAMES_PER_S)
    }

    /// Check internal consistency; `file` names the source in errors.
    pub fn validate(&self, file: &str) -> crate::error::Result<()> {
        self.validate_ops(file)?;
        self.validate_server(file)?;
        self.validate_llm(file)?;
        self.check_parallel(file, "")
    }

    /// GPUs one replica spans: its tensor-parallel group times its pipeline stages.
    pub fn gpus_per_replica(&self) -> u32 {
        self.tensor_parallel * self.pipeline_parallel
    }

    /// Parallelism needs an LLM whose shape is known (the all-reduces' size is its hidden
    /// size) and whose heads divide among the tensor-parallel GPUs (as vLLM and TensorRT-LLM
    /// require).
    /// Errors name `file` and `prefix` + the field.
    pub fn check_parallel(&self, file: &str, prefix: &str) -> crate::error::Result<()> {
        use crate::error::Error;
        let (tp, pp) = (self.tensor_parallel, self.pipeline_parallel);
        let tpf = format!("{prefix}tensor_parallel");
        let ppf = format!("{prefix}pipeline_parallel");
        limits::TENSOR_PARALLEL.count(file, &tpf, tp)?;
        limits::PIPELINE_PARALLEL.count(file, &ppf, pp)?;
        if tp * pp == 1 {
            return Ok(());
        }
        let field = if tp > 1 { tpf.clone() } else { ppf.clone() };
        if self.kind != ServiceKind::Llm {
            return Err(Error::input(
                file,
                field,
                format!("applies to LLM models; '{}' is {}", self.name, self.kind.label()),
            ));
        }
        let Some(a) = &self.arch else {
            return Err(Error::input(
                file,
                field,
                format!("needs the model's architecture ('arch') to size its all-reduces; '{}' has none", self.name),
            ));
        };
        if a.heads % tp != 0 {
            return Err(Error::input(
                file,
                tpf,
                format!("'{tp}' does not divide the model's {} attention heads", a.heads),
            ));
        }
        if a.layers < pp {
            return Err(Error::input(
                file,
                ppf,
                format!("'{pp}' stages but the model has {} layers", a.layers),
            ));
        }
        Ok(())
    }

    /// The ops its kind needs, each table well formed, and the scaling parameters.
    fn validate_ops(&self, file: &str) -> crate::error::Result<()> {
        use crate::error::Error;
        for op in Self::required_ops(self.kind) {
            if !self.ops.contains_key(*op) {
                return Err(Error::input(
                    file,
                    "ops",
                    format!("a '{:?}' model needs op '{op}'", self.kind).to_lowercase(),
                ));
            }
        }
        for (name, t) in &self.ops {
            let f = format!("ops.{name}");
            if t.batch.is_empty() || t.size.is_empty() || t.latency_ms.len() != t.batch.len() {
                return Err(Error::input(
                    file,
                    f,
                    "latency_ms must have one row per batch value and batch/size must be non-empty",
                ));
            }
            if t.latency_ms.iter().any(|r| r.len() != t.size.len()) {
                return Err(Error::input(file, f, "every latency_ms row must have one value per size value"));
            }
            if let Some(v) = t.latency_ms.iter().flatten().find(|v| !limits::CALL_MS.contains(**v)) {
                return Err(Error::input(
                    file,
                    format!("{f}.latency_ms"),
                    format!("latencies must be in (0, 1e7] ms, got '{}'", crate::error::num(*v)),
                ));
            }
            if let Some(v) = t
                .batch
                .iter()
                .chain(&t.size)
                .chain(&t.size_buckets)
                .find(|v| !(v.is_finite() && **v > 0.0 && **v <= 1e9))
            {
                return Err(Error::input(
                    file,
                    &f,
                    format!("batch and size values must be positive and finite, got '{}'", crate::error::num(*v)),
                ));
            }
            if t.batch.windows(2).any(|w| w[1] <= w[0]) || t.size.windows(2).any(|w| w[1] <= w[0]) {
                return Err(Error::input(file, f, "batch and size axes must be strictly ascending"));
            }
            // A batch is padded up to its bucket: a bucket beyond the largest batch any model may
            // be given (config::limits::MAX_BATCH) would be a call of an absurd batch.
            if t.batch_buckets.contains(&0)
                || t.batch_buckets.windows(2).any(|w| w[1] <= w[0])
                || t.batch_buckets.iter().any(|&b| b > MAX_BATCH)
            {
                return Err(Error::input(
                    file,
                    format!("{f}.batch_buckets"),
                    format!(
                        "must be positive, strictly ascending and at most {}, got {:?}",
                        MAX_BATCH, t.batch_buckets
                    ),
                ));
            }
            if t.size_buckets.windows(2).any(|w| w[1] <= w[0]) {
                return Err(Error::input(
                    file,
                    format!("{f}.size_buckets"),
                    format!("must be strictly ascending, got {:?}", t.size_buckets),
                ));
            }
            let x = &t.extrapolated;
            if !x.is_empty() && (x.len() != t.batch.len() || x.iter().any(|r| r.len() != t.size.len())) {
                return Err(Error::input(file, format!("{f}.extrapolated"), "must have the shape of latency_ms (or be left out)"));
            }
            for (k, z) in [("fixed_frac", &t.fixed_frac), ("compute_frac", &t.compute_frac)] {
                if z.len() != t.batch.len() || z.iter().any(|r| r.len() != t.size.len()) {
                    return Err(Error::input(file, format!("{f}.{k}"), "must have the shape of latency_ms"));
                }
                if let Some(v) = z.iter().flatten().find(|v| !(v.is_finite() && (0.0..=1.0).contains(*v))) {
                    return Err(Error::input(
                        file,
                        format!("{f}.{k}"),
                        format!("fractions must be in [0, 1], got '{}'", crate::error::num(*v)),
                    ));
                }
            }
            if t.fixed_frac
                .iter()
                .flatten()
                .zip(t.compute_frac.iter().flatten())
                .any(|(a, b)| a + b > 1.0 + 1e-9)
            {
                return Err(Error::input(
                    file,
                    format!("{f}.compute_frac"),
                    "fixed_frac + compute_frac must not exceed 1",
                ));
            }
        }
        if !(self.scaling.sm_bw_gbps.is_finite()
            && self.scaling.sm_bw_gbps > 0.0
            && self.scaling.knee.is_finite()
            && (0.5..=64.0).contains(&self.scaling.knee))
        {
            return Err(Error::input(
                file,
                "scaling",
                format!("sm_bw_gbps must be positive and knee in [0.5, 64], got {:?}", self.scaling),
            ));
        }
        Ok(())
    }

    /// The server's host times, TTS frame counts, call spread and batches.
    fn validate_server(&self, file: &str) -> crate::error::Result<()> {
        use crate::error::Error;
        if let Some(fpc) = self.frames_per_char {
            limits::FRAMES_PER_CHAR.check(file, "frames_per_char", fpc)?;
        }
        if let Some(fps) = self.frames_per_s {
            limits::FRAMES_PER_S.check(file, "frames_per_s", fps)?;
        }
        if let Some((lo, hi)) = self.frames_range {
            if lo == 0 || lo > hi || hi > 1_000_000 {
                return Err(Error::input(
                    file,
                    "frames_range",
                    format!("must be [min, max] with 1 <= min <= max <= 1000000, got [{lo}, {hi}]"),
                ));
            }
        }
        limits::SHARED_TIME_FRACTION.check(file, "shared_time_fraction", self.shared_time_fraction)?;
        limits::HOST_PHASE_MS.check(file, "host_phase_ms", self.host_phase_ms)?;
        if self.host_phase_ms > 0.0 && self.kind == ServiceKind::Llm {
            return Err(Error::input(
                file,
                "host_phase_ms",
                format!(
                    "applies to ASR and TTS servers, not to an LLM's steps (got '{}')",
                    crate::error::num(self.host_phase_ms)
                ),
            ));
        }
        if self.host_phase_ms > 0.0 && self.sync_copy_ms > 0.0 {
            return Err(Error::input(
                file,
                "host_phase_ms",
                format!(
                    "a call starts with its host phase or with its synchronous copy, not both (got host_phase_ms '{}' and sync_copy_ms '{}')",
                    crate::error::num(self.host_phase_ms),
                    crate::error::num(self.sync_copy_ms)
                ),
            ));
        }
        limits::COLD_CALL_MS.check(file, "cold_call_ms", self.cold_call_ms)?;
        limits::CALL_NOISE.check(file, "call_noise", self.call_noise)?;
        if self.kind == ServiceKind::Llm {
            let set = [
                ("cold_call_ms", self.cold_call_ms > 0.0),
                ("warm_batches", !self.warm_batches.is_empty()),
                ("call_noise", self.call_noise > 0.0),
            ];
            if let Some((field, _)) = set.iter().find(|x| x.1) {
                return Err(Error::input(file, *field, "applies to ASR and TTS servers, not to an LLM"));
            }
        }
        // A warm batch is a padded batch of the server's graphs, or it would never match a call.
        for op in Self::required_ops(self.kind) {
            let buckets = self.ops.get(*op).map(|t| t.batch_buckets.as_slice()).unwrap_or_default();
            if let Some(&b) = self
                .warm_batches
                .iter()
                .find(|&&b| b == 0 || b > self.max_batch.max(1) || !(buckets.is_empty() || buckets.contains(&b)))
            {
                return Err(Error::input(
                    file,
                    "warm_batches",
                    format!(
                        "a warm batch must be one of op {op}'s batch buckets {buckets:?} up to max_batch = {}, got '{b}'",
                        self.max_batch
                    ),
                ));
            }
        }
        limits::SYNC_COPY_MS.check(file, "sync_copy_ms", self.sync_copy_ms)?;
        limits::CHUNK_S.check(file, "chunk_s", self.chunk_s)?;
        limits::FIRST_CHUNK_FRAMES.count(file, "first_chunk_frames", self.first_chunk_frames)?;
        // Before the generic bound, which would refuse a figure in bytes without the hint.
        self.memory.check_fits_a_gpu(file)?;
        for (k, v) in [
            ("memory.weights_gib", self.memory.weights_gib),
            ("memory.runtime_gib", self.memory.runtime_gib),
            ("dispatch_ms", self.dispatch_ms),
            ("call_gap_ms", self.call_gap_ms),
        ] {
            limits::HOST_TIME_MS.check(file, k, v)?;
        }
        limits::BATCH.count(file, "max_batch", self.max_batch)?;
        Ok(())
    }

    /// The LLM section: present exactly for an LLM, within its bounds.
    fn validate_llm(&self, file: &str) -> crate::error::Result<()> {
        use crate::error::Error;
        match (&self.llm, self.kind) {
            (None, ServiceKind::Llm) => return Err(Error::input(file, "llm", "an LLM model needs an 'llm' section")),
            (Some(_), k) if k != ServiceKind::Llm => return Err(Error::input(file, "llm", "only an LLM model has an 'llm' section")),
            (Some(l), _) => {
                for (k, v, bound) in [
                    ("llm.max_seqs", l.max_seqs, limits::BATCH),
                    ("llm.max_context_tokens", l.max_context_tokens, limits::CONTEXT_TOKENS),
                    ("llm.max_num_batched_tokens", l.max_num_batched_tokens, limits::BATCHED_TOKENS),
                    ("llm.kv_block_tokens", l.kv_block_tokens, limits::KV_BLOCK_TOKENS),
                    ("llm.layers", l.layers, limits::LAYERS),
                    ("llm.kv_heads", l.kv_heads, limits::LAYERS),
                    ("llm.head_dim", l.head_dim, limits::HEAD_DIM),
                    ("llm.kv_bytes_per_element", l.kv_bytes_per_element, limits::KV_BYTES_PER_ELEMENT),
                ] {
                    bound.count(file, k, v)?;
                }
                limits::GPU_MEMORY_UTILIZATION.check(file, "llm.gpu_memory_utilization", l.gpu_memory_utilization)?;
                limits::ACTIVATION_RESERVE_GIB.check(file, "llm.activation_reserve_gib", l.activation_reserve_gib)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// How an LLM server schedules prefills and decodes.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum LlmPolicy {
    /// One prefill at a time, each padded to a CUDA-graph bucket, before the next decode step
    /// (the calibration server's policy).
    PrefillFirst,
    /// vLLM-v1-like: each step carries decodes and prefill chunks up to a token budget.
    Chunked,
    /// Request-level batching: a batch is admitted together and runs until its last request ends.
    Static,
}

/// How an ASR server takes audio.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AsrMode {
    /// Whole utterances, batched (offline transcription).
    Offline,
    /// Chunks of every active stream, batched, as the audio arrives.
    Streaming,
}

/// How a TTS server batches syntheses.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TtsPolicy {
    /// Whole syntheses batched together, padded to the longest (the calibration server's policy).
    Static,
    /// Every active synthesis advances one frame per step; requests join and leave between steps.
    InFlight,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Slowdown;

    fn h100_tts() -> ModelSpec {
        crate::model::builtin("h100/tts").expect("built-in").expect("parses")
    }

    #[test]
    fn frame_costs_alone_reproduce_the_static_call() {
        let m = h100_tts();
        let op = &m.ops["synthesize"];
        let (step, setup, ext) = op.frame_costs_ms(1, &Slowdown::IDENTITY);
        assert!(!ext);
        for frames in [4.0, 22.0, 143.0, 500.0, 1023.0] {
            let (stat, _) = op.latency_ms(1, frames, &Slowdown::IDENTITY);
            let inflight = setup + frames * step;
            assert!(
                (inflight - stat).abs() < 1e-9 * stat,
                "{frames} frames: {inflight} vs static {stat}"
            );
        }
        // The slope is the marginal cost of a frame: 0.92 ms at batch 1 on the H100.
        assert!((step - (946.1112 - 5.6395) / 1019.0).abs() < 1e-12, "{step}");
    }

    #[test]
    fn frame_costs_pad_the_batch_and_flag_beyond_the_buckets() {
        let op = h100_tts().ops["synthesize"].clone();
        assert_eq!(op.frame_costs_ms(3, &Slowdown::IDENTITY), op.frame_costs_ms(4, &Slowdown::IDENTITY));
        assert!(op.frame_costs_ms(32, &Slowdown::IDENTITY).2, "batch 32 is beyond the 16 bucket");
    }

    /// The property behind in-flight joins (docs/src/model/voice.md): a join adds to the running
    /// syntheses only the growth of the setup with the batch, and in the calibrated table that
    /// growth is below one frame step at every bucket (the fitted intercept is the same 1.948 ms
    /// at every batch).
    #[test]
    fn calibrated_setup_grows_by_less_than_a_frame_step_per_joiner() {
        let op = h100_tts().ops["synthesize"].clone();
        let id = Slowdown::IDENTITY;
        for b in 1..16u32 {
            let (_, s0, _) = op.frame_costs_ms(b, &id);
            let (step1, s1, _) = op.frame_costs_ms(b + 1, &id);
            assert!(
                s1 - s0 <= step1,
                "batch {b} -> {}: setup grows {} ms > step {step1} ms",
                b + 1,
                s1 - s0
            );
            assert!((s1 - 1.9477).abs() < 1e-3, "intercept at batch {}: {s1}", b + 1);
        }
    }
}
