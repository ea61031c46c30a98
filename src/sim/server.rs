//! Model servers: one host loop and one engine each.
//!
//! A server issues one GPU call at a time and waits for it (one CUDA stream, synchronised calls,
//! as the calibration servers did). Its host loop ([`Host`]) adds `dispatch_ms` before the first
//! call after idling and `call_gap_ms` between calls; during those gaps its context has no GPU
//! work, which is when a time-sliced GPU runs another context. The host also owns what every
//! engine shares: the queue, the call's set-up on the host (a padded batch not run before), its
//! spread around the table, the time a shared time-sliced GPU saves it, the synchronous copy.
//!
//! What the server does with its queue is its engine, chosen once from the model
//! ([`crate::model::ServerKind`]):
//! * [`batch`]: offline ASR and static TTS, whole requests in padded batches;
//! * [`stream`]: streaming ASR, one chunk of every ready stream per call;
//! * [`inflight`]: in-flight TTS, frame steps that requests join and leave;
//! * [`llm`]: an LLM's prefill-first, chunked or static scheduler over a paged KV cache.
//!
//! Engines change only their own state and the requests they hold. What reaches beyond the
//! server (a request completes, fails or is released; an event is due; work goes to the device)
//! is written, in order, to an [`Out`] list that the simulation carries out when the engine
//! returns, so every effect happens in the order the engine decided it.

pub(super) mod batch;
pub(super) mod inflight;
pub(super) mod llm;
pub(super) mod stream;

use super::device::MpsCall;
use super::recorder::Recorder;
use super::store::Store;
use super::Ev;
use crate::model::parallel::Comm;
use crate::model::{DeviceShare, Model, OpTable, ServerKind, Slowdown};
use crate::rng::SimRng;
use crate::time::{from_ms, SimTime};
use rand_distr::Distribution;
use std::collections::VecDeque;

/// GPU time of a synchronous copy of a few bytes (the DMA and its completion) [ns].
const COPY_GPU_NS: SimTime = 10_000;

/// An effect of a server on the rest of the simulation, carried out in order.
#[derive(Debug, Clone, Copy)]
pub(super) enum Out {
    /// Schedule this event.
    At(SimTime, Ev),
    /// Run this much solo GPU work on the server's context (exclusive or time-sliced device),
    /// with what the call asks of the GPU's power budget.
    Submit(SimTime, CallLoad),
    /// Run this call on the server's MPS device.
    SubmitMps(MpsCall),
    /// The server's exclusive device finished its call at this time (a block cut after it ended).
    DeviceEnded(SimTime),
    /// The request finished now.
    Complete(u32),
    /// The request left the server for good: its slot may be reused.
    Release(u32),
    /// The request cannot be served (longer than the server's memory allows): refuse it.
    Reject(u32),
}

/// What a call asks of its GPU's power budget, as shares of its time on the server's share: the
/// part the clock paces (latency-bound and compute) and its compute activity (compute share x
/// the share's SMs / the GPU's).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct CallLoad {
    pub(super) clocked: f64,
    pub(super) activity: f64,
}

/// What the host loop is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum SrvState {
    Idle,
    /// A dispatch is scheduled.
    Pending,
    Busy,
}

/// What an engine call is given: the time, the requests, the recorder and the list of effects.
pub(super) struct Cx<'a> {
    pub(super) now: SimTime,
    pub(super) store: &'a mut Store,
    pub(super) rec: &'a mut Recorder,
    pub(super) out: &'a mut Vec<Out>,
    /// Runs of steps may be one call (the device runs this server alone; see `llm.rs`).
    pub(super) blocks: bool,
}

/// The host side of a server: its queue, its loop's state and what every call pays on the host.
#[derive(Debug, Clone)]
pub(super) struct Host {
    /// Its index (the events it schedules name it).
    pub(super) id: u32,
    pub(super) model: u32,
    pub(super) dev: u32,
    pub(super) ctx: u32,
    pub(super) label: String,
    pub(super) queue: VecDeque<u32>,
    pub(super) state: SrvState,
    /// Bumped when the server dies or a running block is cut: events of an older epoch are stale.
    pub(super) epoch: u32,
    pub(super) up: bool,
    /// Takes new requests (false: turned off or draining by the autoscaler).
    pub(super) serving: bool,
    /// Kind of the fault that took it down (`FaultKind::ALL` index), while it is down.
    pub(super) down_kind: u8,
    /// Requests queued or in service (the least-outstanding balancer's measure).
    pub(super) outstanding: u32,
    /// LLM prefill-first: admissions left in the current round.
    pub(super) admit_budget: usize,
    /// What its calls run on, and their slow-down there (nominal: MPS rates calls by the
    /// clients running).
    pub(super) share: DeviceShare,
    pub(super) slow: Slowdown,
    /// A multi-GPU replica's collectives and hand-offs per step (LLM steps add it).
    pub(super) comm: Comm,
    /// Its tables are derived, not measured ([`crate::deploy::placement::derived`]).
    pub(super) derived: bool,
    /// Its device rates calls by the clients running (MPS).
    pub(super) mps: bool,
    /// Its device runs it alone and no shared queue feeds it: runs of steps may be one call.
    pub(super) alone: bool,
    /// On a time-sliced GPU shared with other contexts: the share of a call's batch-1 time it
    /// saves (1 - `shared_time_fraction`), and the host phase at the start of each call [ns];
    /// both 0 elsewhere.
    pub(super) shared_saving: f64,
    pub(super) host_phase: SimTime,
    /// Work of the current call still to launch after its synchronous copy or host phase [ns],
    /// and the host time between the copy's end and the launch [ns].
    pub(super) pending: SimTime,
    /// What that pending work asks of the power budget.
    pub(super) pending_load: CallLoad,
    pub(super) resume_gap: SimTime,
    /// ASR/TTS: host time of the first call at a padded batch not in `warm` [ns]; `warm` holds
    /// the batches run so far (the model's `warm_batches` at start and after a restart).
    cold: SimTime,
    pub(super) warm: Vec<u32>,
    /// The call waiting for its set-up: (batch, size).
    pub(super) cold_call: Option<(u32, f64)>,
    /// Sigma of a call's log-normal spread around the table, and its stream.
    noise: f64,
    noise_rng: SimRng,
}

impl Host {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        id: u32,
        model: &Model,
        model_index: u32,
        dev: u32,
        ctx: u32,
        label: String,
        share: DeviceShare,
        noise_rng: SimRng,
    ) -> Host {
        Host {
            id,
            model: model_index,
            dev,
            ctx,
            label,
            queue: VecDeque::new(),
            state: SrvState::Idle,
            epoch: 0,
            up: true,
            serving: true,
            down_kind: 0,
            outstanding: 0,
            admit_budget: 0,
            slow: Slowdown::of(&model.scaling, &model.reference, &share),
            comm: Comm::NONE,
            share,
            derived: false,
            mps: false,
            alone: false,
            shared_saving: 0.0,
            host_phase: 0,
            pending: 0,
            pending_load: CallLoad::default(),
            resume_gap: 0,
            cold: model.cold_call,
            warm: model.warm_batches.clone(),
            cold_call: None,
            noise: model.call_noise,
            noise_rng,
        }
    }

    /// This server's dispatch event.
    pub(super) fn dispatch_ev(&self) -> Ev {
        Ev::Dispatch {
            srv: self.id,
            epoch: self.epoch,
        }
    }

    /// Its call-ended event (exclusive devices).
    pub(super) fn done_ev(&self) -> Ev {
        Ev::Done {
            srv: self.id,
            epoch: self.epoch,
        }
    }

    /// Submit a call of `op` over `batch` requests of `size` to the device: on MPS its latency
    /// on the whole reference GPU and its parts (the device rates it by the clients running);
    /// elsewhere its duration on the server's share. The first call at a padded batch the server
    /// has not run yet first spends its set-up on the host (the TTS server's eager encoder meets
    /// a new shape), asking nothing of the GPU, whatever the regime.
    pub(super) fn submit_table(&mut self, op: &OpTable, batch: u32, size: f64, model: &Model, cx: &mut Cx) {
        let (b, sz, beyond) = op.padded(batch, size);
        if self.cold > 0 && !self.warm.contains(&(b as u32)) {
            self.warm.push(b as u32);
            self.cold_call = Some((batch, size));
            let ev = Ev::Warmed {
                srv: self.id,
                epoch: self.epoch,
            };
            cx.out.push(Out::At(cx.now + self.cold, ev));
            return;
        }
        // Each call varies around its table.
        let jitter = if self.noise > 0.0 {
            let z: f64 = rand_distr::StandardNormal.sample(&mut self.noise_rng);
            (self.noise * z).exp()
        } else {
            1.0
        };
        if self.mps {
            let (l_ms, ext) = op.grid_ms(b, sz);
            let (fixed, compute) = op.fractions(b, sz);
            cx.rec.costed(ext || beyond);
            cx.out.push(Out::SubmitMps(MpsCall::new(
                self.id,
                self.epoch,
                l_ms * jitter,
                fixed,
                compute,
                cx.now,
            )));
            return;
        }
        let (ms, ext) = op.latency_ms(batch, size, &self.slow);
        cx.rec.costed(ext);
        let work = from_ms(ms * jitter).max(1);
        let (fixed, compute) = op.fractions(b, sz);
        let load = self.load(fixed, compute);
        if self.shared_saving == 0.0 && self.host_phase == 0 {
            return self.submit_work(work, true, load, model, cx);
        }
        // The saving and the host phase are the table's, not this call's draw.
        let w1 = from_ms(if batch > 1 { op.latency_ms(1, size, &self.slow).0 } else { ms }).max(1);
        // The host phase (TTS's eager encoder) asks nothing of the GPU; the rest is GPU work.
        let host = self.host_phase.min(w1 - 1).min(work - 1);
        let gpu = self.shared_work(work - host, w1 - host);
        if host == 0 {
            return self.submit_work(gpu, true, load, model, cx);
        }
        // Nothing reaches the GPU before the host phase ends: the call's GPU time counts now.
        cx.rec.submitted(gpu, self.derived);
        self.pending = gpu;
        self.pending_load = load;
        let ev = Ev::Resume {
            srv: self.id,
            epoch: self.epoch,
        };
        cx.out.push(Out::At(cx.now + host, ev));
    }

    /// Solo `work` [ns] of a call whose batch-1 version costs `w1`, as it runs on this server's
    /// device: on a time-sliced GPU shared with other contexts every call takes
    /// (1 - `shared_time_fraction`) x `w1` less. The saving was measured per call, the same
    /// whether another context had work around the call or not and about constant over batch
    /// sizes (traces/h200/analysis_ts.txt, sections 15 and 16).
    pub(super) fn shared_work(&self, work: SimTime, w1: SimTime) -> SimTime {
        let f = self.shared_saving;
        if f == 0.0 {
            return work;
        }
        work.saturating_sub((f * w1 as f64).round() as SimTime).max(1)
    }

    /// Submit `work` [ns] of solo time for the current call on an exclusive or time-sliced
    /// device. With `copy_first` the call starts with the model's synchronous copy: a few us of
    /// GPU work (the DMA), then host time until the kernels are launched; the solo duration
    /// stays `work`.
    pub(super) fn submit_work(&mut self, work: SimTime, copy_first: bool, load: CallLoad, model: &Model, cx: &mut Cx) {
        let mut work = work;
        let copy = model.sync_copy;
        if copy_first && copy > 0 && work > copy {
            let gpu = COPY_GPU_NS.min(copy);
            self.pending = work - copy;
            self.pending_load = load;
            self.resume_gap = copy - gpu;
            work = gpu;
        }
        cx.out.push(Out::Submit(work, load));
    }

    /// The power-budget load of a call whose reference split is `fixed` and `compute` (the rest
    /// memory), on this server's share.
    pub(super) fn load(&self, fixed: f64, compute: f64) -> CallLoad {
        let [f, c, m] = self.slow.parts(fixed, compute);
        let t = f + c + m;
        if t <= 0.0 {
            return CallLoad::default();
        }
        CallLoad {
            clocked: (f + c) / t,
            activity: c / t * self.share.sm_fraction,
        }
    }

    /// Wake an idle server: its host loop issues a call `dispatch_ms` from now.
    pub(super) fn wake(&mut self, model: &Model, cx: &mut Cx) {
        if self.state == SrvState::Idle && self.up {
            self.state = SrvState::Pending;
            cx.out.push(Out::At(cx.now + model.dispatch, self.dispatch_ev()));
        }
    }

    /// Back up after a crash: what a restarted server has.
    fn reset(&mut self, model: &Model) {
        self.epoch += 1;
        self.warm.clone_from(&model.warm_batches);
        self.cold_call = None;
        self.state = SrvState::Idle;
        self.outstanding = 0;
        self.admit_budget = 0;
        self.pending = 0;
    }
}

/// What a server's engine does with its queue.
#[derive(Debug, Clone)]
pub(super) enum Engine {
    Batch(batch::Batch),
    Stream(stream::Stream),
    InFlight(inflight::InFlight),
    Llm(Box<llm::Llm>),
}

/// A model server.
#[derive(Debug, Clone)]
pub(super) struct Server {
    pub(super) host: Host,
    pub(super) engine: Engine,
}

impl Server {
    /// A server of `model` with host `host`; `kv_tokens` sizes an LLM's KV cache.
    pub(super) fn new(host: Host, model: &Model, kv_tokens: u64) -> Server {
        let engine = match &model.server {
            ServerKind::EncodeBatch { .. } | ServerKind::TtsStatic { .. } => Engine::Batch(batch::Batch::default()),
            ServerKind::AsrStream { .. } => Engine::Stream(stream::Stream::default()),
            ServerKind::TtsInFlight { .. } => Engine::InFlight(inflight::InFlight::default()),
            ServerKind::Llm { llm, .. } => Engine::Llm(Box::new(llm::Llm::new(llm, kv_tokens))),
        };
        Server { host, engine }
    }

    /// The host loop's turn: choose and issue the next GPU call, or go idle. (The shared queue,
    /// if any, has been pulled from.)
    pub(super) fn dispatch(&mut self, model: &Model, cx: &mut Cx) {
        let h = &mut self.host;
        match (&mut self.engine, &model.server) {
            (Engine::Batch(e), ServerKind::EncodeBatch { encode }) => e.dispatch(h, model, encode, None, cx),
            (Engine::Batch(e), ServerKind::TtsStatic { synthesize, audio }) => e.dispatch(h, model, synthesize, Some(audio), cx),
            (Engine::Stream(e), ServerKind::AsrStream { encode_chunk, chunk_s, .. }) => e.dispatch(h, model, encode_chunk, *chunk_s, cx),
            (Engine::InFlight(e), ServerKind::TtsInFlight { synthesize, audio, .. }) => e.dispatch(h, model, synthesize, audio, cx),
            (Engine::Llm(e), ServerKind::Llm { tables, llm }) => e.dispatch(h, model, tables, llm, cx),
            _ => unreachable!("a server's engine is built from its model's server kind"),
        }
    }

    /// The current call finished now. Returns true if it was frame steps of an in-flight TTS.
    pub(super) fn call_done(&mut self, model: &Model, cx: &mut Cx) -> bool {
        let h = &mut self.host;
        match (&mut self.engine, &model.server) {
            (Engine::Batch(e), _) => e.call_done(h, cx),
            (Engine::Stream(e), _) => e.call_done(h, cx),
            (Engine::InFlight(e), ServerKind::TtsInFlight { first_chunk_frames, .. }) => {
                return e.call_done(h, *first_chunk_frames, cx);
            }
            (Engine::Llm(e), ServerKind::Llm { tables, llm }) => e.call_done(h, tables, llm, cx),
            _ => unreachable!("a server's engine is built from its model's server kind"),
        }
        false
    }

    /// The call that waited for its set-up on the host goes to the device now.
    pub(super) fn warmed(&mut self, model: &Model, cx: &mut Cx) {
        let Some((batch, size)) = self.host.cold_call.take() else { return };
        let op = match &model.server {
            ServerKind::EncodeBatch { encode: op }
            | ServerKind::TtsStatic { synthesize: op, .. }
            | ServerKind::AsrStream { encode_chunk: op, .. } => op,
            _ => return,
        };
        self.host.submit_table(op, batch, size, model, cx);
    }

    /// A request joined the queue of this busy server: an engine running a block of steps cuts
    /// it where the step-by-step server would have reacted.
    pub(super) fn enqueued(&mut self, model: &Model, cx: &mut Cx) {
        let h = &mut self.host;
        match (&mut self.engine, &model.server) {
            (Engine::Llm(e), ServerKind::Llm { tables, llm }) => e.enqueued(h, model, tables, llm, cx),
            (Engine::InFlight(e), _) => e.enqueued(h, model, cx),
            _ => {}
        }
    }

    /// True while the engine holds work in progress beyond its queue (running sequences or
    /// syntheses).
    pub(super) fn in_progress(&self) -> bool {
        match &self.engine {
            Engine::Llm(e) => !e.active.is_empty(),
            Engine::InFlight(e) => !e.synth.is_empty(),
            _ => false,
        }
    }

    /// Requests an in-flight TTS could still admit now.
    pub(super) fn can_join(&self, model: &Model) -> bool {
        match &self.engine {
            Engine::InFlight(e) => e.synth.len() < model.max_batch as usize,
            _ => false,
        }
    }

    /// How many requests the server can take from a shared queue now.
    pub(super) fn room(&self, model: &Model) -> usize {
        match (&self.engine, &model.server) {
            (Engine::Llm(e), ServerKind::Llm { llm, .. }) => (llm.max_seqs as usize).saturating_sub(e.active.len() + self.host.queue.len()),
            (Engine::InFlight(e), _) => (model.max_batch as usize).saturating_sub(self.host.queue.len() + e.synth.len()),
            _ => (model.max_batch as usize).saturating_sub(self.host.queue.len()),
        }
    }

    /// The server died: every request it holds, in the order queue, call, running set, into
    /// `lost`; it restarts empty (cold again) at its next epoch.
    pub(super) fn kill(&mut self, model: &Model, kind: u8, lost: &mut Vec<u32>) {
        let h = &mut self.host;
        h.up = false;
        h.down_kind = kind;
        lost.extend(h.queue.drain(..));
        match &mut self.engine {
            Engine::Batch(e) => e.kill(lost),
            Engine::Stream(e) => e.kill(lost),
            Engine::InFlight(e) => e.kill(lost),
            Engine::Llm(e) => e.kill(lost),
        }
        h.reset(model);
    }

    /// What the TUI shows as its queue: waiting and running requests (a streaming server: every
    /// attached stream).
    pub(super) fn queue_view(&self) -> usize {
        match &self.engine {
            Engine::Stream(e) if !e.streams.is_empty() => e.streams.len(),
            Engine::Llm(e) => self.host.queue.len() + e.active.len(),
            Engine::InFlight(e) => self.host.queue.len() + e.synth.len(),
            _ => self.host.queue.len(),
        }
    }
}
