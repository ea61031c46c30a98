//! Models of model servers: what one GPU call of a model costs and how a server of it behaves.
//!
//! * [`spec`]: the model file ([`ModelSpec`]: op tables, memory, host timing, server policy).
//! * [`table`]: an op's latency table ([`OpTable`]: padding, interpolation, extrapolation).
//! * [`scaling`]: the device scaling model (fixed / compute / memory parts on a device share).
//! * [`Model`]: a model resolved once for the simulator (typed tables, times on the clock,
//!   its reference GPU).
//! * [`calibrate`]: fitting models from measurements; [`profile`]: a model's predicted grid.

pub mod arch;
pub mod calibrate;
pub mod contention;
pub mod parallel;
pub mod profile;
pub mod scaling;
pub mod spec;
pub mod table;

pub use scaling::{DeviceShare, Scaling, Slowdown};
pub use spec::*;
pub use table::OpTable;

/// Built-in calibrated models, compiled in so that a bare binary can run the default scenario.
pub const BUILTIN_MODELS: &[(&str, &str)] = &[
    ("h100/asr", include_str!("../models/h100/asr.json")),
    ("h100/tts", include_str!("../models/h100/tts.json")),
    ("h100/llm", include_str!("../models/h100/llm.json")),
];

/// The built-in model `from`, if it is one.
pub fn builtin(from: &str) -> Option<crate::error::Result<ModelSpec>> {
    BUILTIN_MODELS
        .iter()
        .find(|(n, _)| *n == from)
        .map(|(n, text)| ModelSpec::parse(text, &format!("models/{n}.json")))
}

use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::time::{from_ms, SimTime};

/// A model as the simulator runs it, resolved once from its checked spec (scenario overrides
/// applied): the server behaviour with exactly the tables it calls, the host's times on the
/// clock, and the GPU its tables were measured on. Nothing in the simulation looks an op up by
/// name or converts a millisecond field.
#[derive(Debug, Clone)]
pub struct Model {
    /// Name in the scenario.
    pub name: String,
    /// Kind (also given by `server`; kept for reports and the planner).
    pub kind: ServiceKind,
    /// The server behaviour and its tables.
    pub server: ServerKind,
    /// The GPU the tables were measured on.
    pub reference: GpuSpec,
    /// Most requests per ASR/TTS batch.
    pub max_batch: u32,
    /// From a request's arrival at an idle server to its first GPU call [ns].
    pub dispatch: SimTime,
    /// Host time between two calls of a busy server [ns].
    pub call_gap: SimTime,
    /// Host set-up of the first call at a padded batch not yet run [ns] (0: none).
    pub cold_call: SimTime,
    /// Host-bound start of each call on a shared time-sliced GPU [ns].
    pub host_phase: SimTime,
    /// Synchronous host-to-device copy before each call's kernels [ns].
    pub sync_copy: SimTime,
    /// Share of its batch-1 solo time a call takes on a time-sliced GPU shared with others.
    pub shared_time_fraction: f64,
    /// Sigma of a call's log-normal spread around its table (0: exact).
    pub call_noise: f64,
    /// Padded batches warmed at start (never cold).
    pub warm_batches: Vec<u32>,
    /// Device scaling parameters.
    pub scaling: Scaling,
    /// The spec it was resolved from (memory, policies, provenance), for placement, the
    /// planner and exports.
    pub spec: ModelSpec,
}

/// What a model's server does, with the tables it calls: the engine of its server.
#[derive(Debug, Clone)]
pub enum ServerKind {
    /// Offline ASR and text encoders: batches of whole requests, one `encode` call per batch.
    EncodeBatch {
        /// Latency of a batch over padded sizes (audio seconds, tokens).
        encode: OpTable,
    },
    /// Streaming ASR: each call encodes one chunk of every ready stream.
    AsrStream {
        /// Latency of whole utterances (the planner's capacity bound).
        encode: OpTable,
        /// Latency of a chunk call over streams.
        encode_chunk: OpTable,
        /// Audio per chunk [s].
        chunk_s: f64,
    },
    /// Static TTS: batches of whole syntheses, padded to the longest.
    TtsStatic {
        /// Latency of a batch over codec frames.
        synthesize: OpTable,
        /// Frames of a reply and their audio.
        audio: TtsAudio,
    },
    /// In-flight TTS: every active synthesis advances a frame per step.
    TtsInFlight {
        /// The table the frame step and set-up come from.
        synthesize: OpTable,
        /// Frames of a reply and their audio.
        audio: TtsAudio,
        /// Frames before the first audio chunk.
        first_chunk_frames: u32,
    },
    /// LLM: continuous batching over a paged KV cache.
    Llm {
        /// Prefill and decode tables.
        tables: LlmTables,
        /// Scheduler, limits and KV geometry.
        llm: LlmSpec,
    },
}

/// An LLM's two op tables.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmTables {
    /// Prefill of a prompt at batch 1 over prompt tokens.
    pub prefill: OpTable,
    /// One decode step over (sequences, attended context).
    pub decode: OpTable,
}

/// How many codec frames a TTS reply has and how long it plays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TtsAudio {
    /// Frames per input character.
    pub frames_per_char: f64,
    /// Fewest and most frames per reply.
    pub frames_range: (u32, u32),
    /// Frames per second of audio.
    pub frames_per_s: f64,
}

impl TtsAudio {
    /// Frames of a reply of `chars` characters.
    pub fn frames(&self, chars: f64) -> f64 {
        (chars * self.frames_per_char)
            .round()
            .clamp(self.frames_range.0 as f64, self.frames_range.1 as f64)
    }

    /// Audio duration of `frames` frames [s].
    pub fn audio_s(&self, frames: f64) -> f64 {
        frames / self.frames_per_s
    }
}

impl Model {
    /// Resolve a checked spec; `file` names the scenario in errors. Fails only on what the spec
    /// alone cannot know: an unknown reference GPU.
    pub fn resolve(spec: ModelSpec, file: &str) -> Result<Model> {
        let reference = crate::gpu::Catalog::builtin()
            .gpu(&spec.reference_gpu)
            .ok_or_else(|| {
                Error::input(
                    file,
                    format!("models.{}.reference_gpu", spec.name),
                    format!("unknown GPU '{}'", spec.reference_gpu),
                )
            })?
            .clone();
        let table = |op: &str| -> Result<OpTable> {
            spec.ops
                .get(op)
                .cloned()
                .ok_or_else(|| Error::input(file, format!("models.{}.ops", spec.name), format!("needs op '{op}'")))
        };
        let audio = TtsAudio {
            frames_per_char: spec.frames_per_char.unwrap_or(DEFAULT_FRAMES_PER_CHAR),
            frames_range: spec.frames_range.unwrap_or(DEFAULT_FRAMES_RANGE),
            frames_per_s: spec.frames_per_s.unwrap_or(DEFAULT_FRAMES_PER_S),
        };
        let server = match (spec.kind, &spec.llm) {
            (ServiceKind::Asr, _) if spec.asr_mode == AsrMode::Streaming => ServerKind::AsrStream {
                encode: table("encode")?,
                encode_chunk: table("encode_chunk")?,
                chunk_s: spec.chunk_s,
            },
            (ServiceKind::Asr | ServiceKind::Encoder, _) => ServerKind::EncodeBatch { encode: table("encode")? },
            (ServiceKind::Tts, _) if spec.tts_policy == TtsPolicy::InFlight => ServerKind::TtsInFlight {
                synthesize: table("synthesize")?,
                audio,
                first_chunk_frames: spec.first_chunk_frames,
            },
            (ServiceKind::Tts, _) => ServerKind::TtsStatic {
                synthesize: table("synthesize")?,
                audio,
            },
            (ServiceKind::Llm, Some(l)) => ServerKind::Llm {
                tables: LlmTables {
                    prefill: table("prefill")?,
                    decode: table("decode")?,
                },
                llm: l.clone(),
            },
            (ServiceKind::Llm, None) => {
                return Err(Error::input(
                    file,
                    format!("models.{}.llm", spec.name),
                    "an LLM model needs an 'llm' section",
                ))
            }
        };
        Ok(Model {
            name: spec.name.clone(),
            kind: spec.kind,
            server,
            reference,
            max_batch: spec.max_batch,
            dispatch: from_ms(spec.dispatch_ms),
            call_gap: from_ms(spec.call_gap_ms),
            cold_call: from_ms(spec.cold_call_ms),
            host_phase: from_ms(spec.host_phase_ms),
            sync_copy: from_ms(spec.sync_copy_ms),
            shared_time_fraction: spec.shared_time_fraction,
            call_noise: spec.call_noise,
            warm_batches: spec.warm_batches.clone(),
            scaling: spec.scaling,
            spec,
        })
    }

    /// The LLM server's tables and settings, if it is one.
    pub fn llm(&self) -> Option<(&LlmTables, &LlmSpec)> {
        match &self.server {
            ServerKind::Llm { tables, llm } => Some((tables, llm)),
            _ => None,
        }
    }

    /// A TTS server's frame counts and audio, if it is one.
    pub fn tts_audio(&self) -> Option<&TtsAudio> {
        match &self.server {
            ServerKind::TtsStatic { audio, .. } | ServerKind::TtsInFlight { audio, .. } => Some(audio),
            _ => None,
        }
    }
}
