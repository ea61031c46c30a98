//! The simulation of one variant of a scenario. Its components each own their state:
//!
//! * [`sources`]: load sources (open-loop arrivals, traces, closed-loop users, conversations);
//! * [`router`]: which replica a request goes to;
//! * [`server`]: model servers, a host loop and an engine each (batches, streams, in-flight
//!   TTS, LLM schedulers);
//! * [`device`]: where the servers' calls execute (exclusive, time-sliced, MPS);
//! * [`faults`]: when faults strike and how far they reach;
//! * [`store`]: requests and units in reusable slots;
//! * [`recorder`]: what is measured; [`summary`] the report made of it.
//!
//! The [`Simulation`] itself only routes: it pops an event, hands it to the component it names,
//! and carries out, in order, the effects the component returns (a request finished: record it
//! and send the next stage; work for a device; an event to schedule).
//!
//! Life of a run: [`Simulation::new`] builds the components from the variant's placement and
//! seeds the load sources; then [`Simulation::step`] / [`Simulation::step_until`] /
//! [`Simulation::run_to_end`] advance the event queue (the only ordering rule: `(time, seq)`,
//! see [`engine`]). [`Simulation::summary`] turns the recorded samples into a [`RunSummary`].
//!
//! Why one file of ~900 lines: the event loop and the routing of every event kind between the components are one
//! dispatch (`handle`) whose arms must be read together; each component's state and logic lives in sim/.

mod autoscale;
pub mod detail;
mod device;
pub mod engine;
mod faults;
mod power;
mod recorder;
mod router;
mod server;
mod sources;
mod store;
mod summary;
#[cfg(test)]
mod testkit;

pub use summary::*;

use crate::deploy::placement::DeviceKind;
use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::model::{Model, ServerKind};
use crate::rng::stream_rng;
use crate::scenario::{FaultKind, Load, Pacing, Scenario, Target};
use crate::time::{from_secs, to_ms, SimTime};
use device::{DevKind, Device, MpsClient, MpsState, TsState};
use engine::EventQueue;
use faults::Faults;
use recorder::{Recorder, Window};
use router::Router;
use server::{Cx, Host, Out, Server, SrvState};
use sources::{Sources, Turn};
use store::{Req, ReqState, Store, Unit, NONE};

/// Events. All are `Copy`; stale ones are recognised by an epoch or token and ignored.
#[derive(Debug, Clone, Copy)]
enum Ev {
    /// Next arrival of open-loop or trace workload `wl`.
    Arrival { wl: u32 },
    /// Closed-loop user sends a turn (a conversation: starts speaking).
    User { user: u32 },
    /// A conversation's utterance ends: its audio goes to the first stage whole.
    Speak { unit: u32 },
    /// The next audio chunk of a real-time stream reaches its streaming ASR server.
    Chunk { req: u32 },
    /// Server host loop issues its next GPU call.
    Dispatch { srv: u32, epoch: u32 },
    /// A call on an exclusive device finished.
    Done { srv: u32, epoch: u32 },
    /// The next call of an MPS device may have finished.
    Mps { dev: u32, token: u32 },
    /// A server's host is done with the synchronous copy (or host phase) of its call: it
    /// launches the kernels.
    Resume { srv: u32, epoch: u32 },
    /// A server's host is done setting up a batch shape it had not run: it submits the call.
    Warmed { srv: u32, epoch: u32 },
    /// Decision point of a time-sliced device.
    Ts { dev: u32, token: u32 },
    /// A turn or request reaches its timeout (`gen`: the unit slot's generation when scheduled,
    /// so that a slot reused by a later unit ignores it).
    Timeout { unit: u32, gen: u32 },
    /// A server crashes (fault index).
    Crash { fault: u32 },
    /// A crashed server is back.
    Restart { srv: u32 },
    /// The autoscaler evaluates a model.
    Scale { model: u32 },
    /// A replica the autoscaler started has loaded and may serve.
    Ready { srv: u32 },
}

/// One finished request, for per-request comparisons (`gpuslice validate`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestRecord {
    /// Workload that generated it (for a trace: rows are in trace order).
    pub workload: usize,
    /// Model it was sent to (a pipeline's stages are separate requests).
    pub model: usize,
    /// Arrival [ns].
    pub arrival: SimTime,
    /// Completion [ns].
    pub finish: SimTime,
    /// LLM: end of prefill [ns]; else 0.
    pub first_token: SimTime,
}

/// What a variant is, for its report.
#[derive(Debug, Clone)]
struct VariantInfo {
    name: String,
    gpu: GpuSpec,
    n_gpus: u32,
    price: f64,
}

/// One variant's simulation.
pub struct Simulation {
    q: EventQueue<Ev>,
    models: Vec<Model>,
    slo: Vec<crate::scenario::Slo>,
    servers: Vec<Server>,
    devices: Vec<Device>,
    router: Router,
    sources: Sources,
    faults: Faults,
    store: Store,
    rec: Recorder,
    /// Reused effect lists (a stack: an effect can make another server act).
    outs: Vec<Vec<Out>>,
    /// Reused buffer (calls an MPS device finished at once).
    mps_done: Vec<(u32, u32)>,
    /// Advance runs of LLM decode and TTS frame steps as one call where exact.
    decode_blocks: bool,
    horizon: SimTime,
    variant: VariantInfo,
    /// Per model: its autoscaler (none: every replica runs all the time).
    scalers: Vec<Option<autoscale::Scaler>>,
    /// GPU time paid for (only with an autoscaled model).
    billing: Option<autoscale::Billing>,
    /// Per server: when the autoscaler's start of it completes.
    ready_at: Vec<SimTime>,
    /// The power budget its MIG instances share, per physical GPU with several of them.
    power: power::Budget,
}

impl Simulation {
    /// Build the simulation of variant `variant` of `scenario` with `seed`, on the placement
    /// the scenario was resolved with.
    pub fn new(scenario: &Scenario, variant: usize, seed: u64) -> Result<Simulation> {
        let v = scenario
            .variants
            .get(variant)
            .ok_or_else(|| Error::Infeasible(format!("scenario '{}' has no variant {variant}", scenario.name)))?;
        Ok(Simulation::of_variant(scenario, v, seed))
    }

    /// Build the simulation of variant `v` (resolved against `scenario`, e.g. by
    /// [`crate::scenario::resolve::add_variant`]) with `seed`.
    pub fn of_variant(scenario: &Scenario, v: &crate::scenario::Variant, seed: u64) -> Simulation {
        let p = &v.placement;
        let window = Window {
            warmup: scenario.warmup,
            duration: scenario.duration,
        };
        let mut replicas: Vec<Vec<u32>> = vec![Vec::new(); scenario.models.len()];
        let mut servers = Vec::with_capacity(p.servers.len());
        for (id, ps) in p.servers.iter().enumerate() {
            replicas[ps.model].push(id as u32);
            let model = &scenario.models[ps.model];
            let rng = stream_rng(seed, (1 << 21) | id as u64, 8);
            let mut host = Host::new(
                id as u32,
                model,
                ps.model as u32,
                ps.device,
                ps.ctx,
                ps.label.clone(),
                ps.share,
                rng,
            );
            host.comm = ps.comm;
            host.derived = crate::deploy::placement::derived(model, ps.gpus, &v.gpu);
            servers.push(Server::new(host, model, ps.kv_tokens));
        }
        let shared_queue = v.balancer == crate::deploy::Balancer::SharedQueue;
        let mut devices = Vec::with_capacity(p.devices.len());
        for (id, d) in p.devices.iter().enumerate() {
            let n = d.servers.len();
            let kind = match d.kind {
                DeviceKind::Exclusive => DevKind::Exclusive,
                DeviceKind::Mps => DevKind::Mps(MpsState::new(
                    d.servers
                        .iter()
                        .map(|&s| {
                            let h = &servers[s as usize].host;
                            let m = &scenario.models[h.model as usize];
                            MpsClient {
                                pct: h.share.sms / v.gpu.sm_count as f64 * 100.0,
                                share: h.share,
                                scaling: m.scaling,
                                reference: m.reference.clone(),
                            }
                        })
                        .collect(),
                    &v.gpu,
                )),
                DeviceKind::TimeSliced(ts) => DevKind::TimeSliced(TsState::new(ts, n)),
            };
            for &s in &d.servers {
                let h = &mut servers[s as usize].host;
                let m = &scenario.models[h.model as usize];
                h.mps = matches!(kind, DevKind::Mps(_));
                h.alone = matches!(kind, DevKind::Exclusive) && !shared_queue;
                // Servers that share a time-sliced GPU with another context: their calls save
                // time and start with their host phase (`Host::shared_work`).
                if matches!(kind, DevKind::TimeSliced(_)) && n > 1 {
                    h.shared_saving = 1.0 - m.shared_time_fraction;
                    h.host_phase = m.host_phase;
                }
            }
            devices.push(Device::new(
                id as u32,
                kind,
                d.gpu,
                d.label.clone(),
                d.servers.clone(),
                d.instance.clone(),
                window,
            ));
        }
        let power = power::Budget::new(&devices, v.gpu.sharing);
        let mut q = EventQueue::new();
        let stages = scenario.workloads.iter().map(|w| match &w.target {
            Target::Pipeline(p) => p.stages.len(),
            Target::Model(_) => 1,
        });
        let mut rec = Recorder::new(window, scenario.models.len(), stages).with_windows(scenario.window);
        rec.extrapolated = p.extrapolated;
        let (sources, conv_users) = Sources::start(scenario.workloads.clone(), seed, scenario.duration, &mut q);
        rec.conv.users = conv_users;
        let horizon = scenario.duration + scenario.drain;
        let mut faults = Faults::new(v.faults.clone(), stream_rng(seed, 1 << 20, 7));
        for k in 0..faults.list.len() {
            let t = faults.first(k);
            if t < horizon {
                q.schedule(t, Ev::Crash { fault: k as u32 });
            }
        }
        let (scalers, billing) = start_autoscalers(scenario, &v.name, &replicas, &mut servers, &devices, v.gpus.len(), &mut q);
        let ready_at = vec![0; servers.len()];
        let mut router = Router::new(v.balancer, replicas);
        // Replicas the autoscaler holds off take no request.
        for srv in 0..servers.len() {
            router.touch(srv, &servers);
        }
        Simulation {
            scalers,
            billing,
            ready_at,
            power,
            q,
            models: scenario.models.clone(),
            slo: scenario.slo.clone(),
            servers,
            devices,
            router,
            sources,
            faults,
            store: Store::default(),
            rec,
            outs: Vec::new(),
            mps_done: Vec::new(),
            decode_blocks: true,
            horizon,
            variant: VariantInfo {
                name: v.name.clone(),
                gpu: v.gpu.clone(),
                n_gpus: v.gpus.len() as u32,
                price: v.price_usd_per_hour,
            },
        }
    }

    /// Current simulated time [ns].
    pub fn now(&self) -> SimTime {
        self.q.now()
    }

    /// Time after which nothing more is simulated [ns].
    pub fn horizon(&self) -> SimTime {
        self.horizon
    }

    /// True when no event is left before the horizon.
    pub fn finished(&self) -> bool {
        self.q.peek_time().is_none_or(|t| t > self.horizon)
    }

    /// Process one event; false when the run is over.
    pub fn step(&mut self) -> bool {
        match self.q.pop_until(self.horizon) {
            Some((_, ev)) => {
                self.handle(ev);
                true
            }
            None => false,
        }
    }

    /// Process every event due at or before `t` and move the clock to `t`.
    pub fn step_until(&mut self, t: SimTime) {
        let t = t.min(self.horizon);
        while let Some((_, ev)) = self.q.pop_until(t) {
            self.handle(ev);
        }
        self.q.advance_to(t);
    }

    /// Advance runs of LLM decode steps one step at a time (true is the default: blocks where
    /// exact). For the exactness test and for debugging: results must not change.
    pub fn set_decode_blocks(&mut self, on: bool) {
        self.decode_blocks = on;
    }

    /// Keep every request's record and each model's exact latencies until the end of the run, for
    /// [`Simulation::request_records`] and [`Simulation::model_latencies`]; memory then grows with
    /// the number of requests. Only before the first event: records already freed cannot come back.
    pub fn keep_records(&mut self) -> Result<()> {
        if self.q.processed() > 0 {
            return Err(Error::Infeasible(
                "keep_records must be called before the simulation's first event".into(),
            ));
        }
        self.store.keep_records = true;
        self.rec.keep_samples = true;
        Ok(())
    }

    /// Request and unit slots allocated so far: the most requests and units in flight at once
    /// (every one ever, with records kept). What the run's request memory is proportional to.
    pub fn slots(&self) -> (usize, usize) {
        (self.store.reqs.len(), self.store.units.len())
    }

    /// Run to the horizon and summarise.
    pub fn run_to_end(mut self) -> RunSummary {
        while self.step() {}
        self.summary()
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Arrival { wl } => self.on_arrival(wl as usize),
            Ev::User { user } => self.on_user(user as usize),
            Ev::Speak { unit } => {
                if !self.store.units[unit as usize].over() {
                    self.send_stage(unit as usize);
                }
            }
            Ev::Chunk { req } => self.on_chunk(req),
            Ev::Dispatch { srv, epoch } => {
                if self.servers[srv as usize].host.epoch == epoch {
                    self.dispatch(srv as usize)
                }
            }
            Ev::Done { srv, epoch } => {
                let h = &self.servers[srv as usize].host;
                if h.epoch == epoch {
                    let now = self.q.now();
                    let dev = h.dev as usize;
                    self.devices[dev].call_ended_at(now);
                    self.power.end(dev);
                    self.call_done(srv as usize);
                }
            }
            Ev::Ts { dev, token } => {
                if let Some(c) = self.devices[dev as usize].ts_timer(token, &mut self.q) {
                    let srv = self.devices[dev as usize].servers[c] as usize;
                    self.call_done(srv);
                }
            }
            Ev::Mps { dev, token } => {
                let mut done = std::mem::take(&mut self.mps_done);
                done.clear();
                self.devices[dev as usize].mps_timer(token, &mut self.q, &mut done);
                for &(srv, epoch) in &done {
                    if self.servers[srv as usize].host.epoch == epoch {
                        self.call_done(srv as usize);
                    }
                }
                self.mps_done = done;
            }
            Ev::Resume { srv, epoch } => {
                let h = &mut self.servers[srv as usize].host;
                if h.epoch == epoch {
                    let work = std::mem::take(&mut h.pending);
                    let (dev, ctx) = (h.dev as usize, h.ctx as usize);
                    let work = self.power.start(dev, work, h.pending_load);
                    self.devices[dev].submit(ctx, srv, epoch, work, &mut self.q);
                }
            }
            Ev::Warmed { srv, epoch } => {
                if self.servers[srv as usize].host.epoch == epoch {
                    self.with_server(srv as usize, |s, m, cx| s.warmed(m, cx));
                }
            }
            Ev::Timeout { unit, gen } => {
                if self.store.units[unit as usize].gen == gen {
                    self.on_timeout(unit as usize)
                }
            }
            Ev::Crash { fault } => self.on_crash(fault as usize),
            Ev::Scale { model } => self.on_scale(model as usize),
            Ev::Ready { srv } => self.on_ready(srv as usize),
            Ev::Restart { srv } => {
                let m = self.servers[srv as usize].host.model as usize;
                let shared_waiting = self.router.shared_queue() && self.router.shared_len(m) > 0;
                self.servers[srv as usize].host.up = true;
                self.router.touch(srv as usize, &self.servers);
                let h = &mut self.servers[srv as usize].host;
                // Requests that waited at the router during the outage are pulled now.
                if shared_waiting && h.state == SrvState::Idle {
                    h.state = SrvState::Pending;
                    let ev = h.dispatch_ev();
                    self.q.schedule(self.q.now(), ev);
                }
            }
        }
    }

    // ------------------------------------------------------------------ servers

    /// Let server `srv` act on its model with a fresh effect list, then carry the effects out.
    fn with_server<R>(&mut self, srv: usize, act: impl FnOnce(&mut Server, &Model, &mut Cx) -> R) -> R {
        let mut out = self.outs.pop().unwrap_or_default();
        let s = &mut self.servers[srv];
        let model = &self.models[s.host.model as usize];
        let mut cx = Cx {
            now: self.q.now(),
            store: &mut self.store,
            rec: &mut self.rec,
            out: &mut out,
            blocks: self.decode_blocks,
        };
        let r = act(s, model, &mut cx);
        self.router.touch(srv, &self.servers);
        self.carry_out(srv, &mut out);
        self.router.touch(srv, &self.servers);
        out.clear();
        self.outs.push(out);
        r
    }

    /// Carry out server `srv`'s effects, in order.
    fn carry_out(&mut self, srv: usize, out: &mut [Out]) {
        for &o in out.iter() {
            let now = self.q.now();
            match o {
                Out::At(t, ev) => self.q.schedule(t, ev),
                Out::Submit(work, load) => {
                    let h = &self.servers[srv].host;
                    let (dev, ctx, epoch) = (h.dev as usize, h.ctx as usize, h.epoch);
                    let work = self.power.start(dev, work, load);
                    // The whole call's GPU time: the copy (or host phase) now, the rest pending.
                    let h = &self.servers[srv].host;
                    self.rec.submitted(work + h.pending, h.derived);
                    self.devices[dev].submit(ctx, srv as u32, epoch, work, &mut self.q);
                }
                Out::SubmitMps(call) => {
                    let h = &self.servers[srv].host;
                    self.rec.submitted(crate::time::from_ms(call.l_ref_ms), h.derived);
                    let (dev, ctx) = (h.dev as usize, h.ctx as usize);
                    self.devices[dev].submit_mps(ctx, call, &mut self.q);
                }
                Out::DeviceEnded(end) => {
                    let dev = self.servers[srv].host.dev as usize;
                    self.devices[dev].call_ended_at(end);
                    self.power.end(dev);
                }
                Out::Complete(r) => self.complete_req(r as usize, now),
                Out::Release(r) => self.store.release_req(r),
                Out::Reject(r) => {
                    self.rec.fail.rejected_requests += 1;
                    self.fail_req(r as usize);
                    self.store.release_req(r);
                }
            }
        }
    }

    /// The server's host loop: choose and issue the next GPU call, or go idle.
    fn dispatch(&mut self, srv: usize) {
        if !self.servers[srv].host.up {
            return;
        }
        if self.router.shared_queue() && self.servers[srv].host.serving {
            // Move as many requests from the router's queue as the server can start now.
            let s = &mut self.servers[srv];
            let m = s.host.model as usize;
            let room = s.room(&self.models[m]);
            let n = self.router.pull(m, room, &mut s.host.queue);
            s.host.outstanding += n as u32;
            s.host.admit_budget += n;
            self.router.touch(srv, &self.servers);
        }
        self.with_server(srv, |s, m, cx| s.dispatch(m, cx));
    }

    /// The server's current call has finished now.
    fn call_done(&mut self, srv: usize) {
        let h = &self.servers[srv].host;
        if h.pending > 0 {
            // Only the copy (or host phase) has run: the host launches the kernels after its
            // turnaround.
            let ev = Ev::Resume {
                srv: srv as u32,
                epoch: h.epoch,
            };
            self.q.schedule(self.q.now() + h.resume_gap, ev);
            return;
        }
        let frames = self.with_server(srv, |s, m, cx| s.call_done(m, cx));
        let m = self.servers[srv].host.model as usize;
        let model = &self.models[m];
        let waiting = !self.servers[srv].host.queue.is_empty() || self.router.shared_len(m) > 0;
        let s = &mut self.servers[srv];
        if !waiting && !s.in_progress() {
            s.host.state = SrvState::Idle;
        } else {
            s.host.state = SrvState::Pending;
            // Frame steps follow each other without host time (the table's per-frame cost was
            // measured over the server's own frame loop); the host's scheduling time comes
            // before a step that admits newcomers, as before any other call.
            let joins = waiting && s.can_join(model);
            let gap = if frames && !joins { 0 } else { model.call_gap };
            let ev = s.host.dispatch_ev();
            self.q.schedule(self.q.now() + gap, ev);
        }
    }

    // ------------------------------------------------------------------ load

    fn on_arrival(&mut self, wl: usize) {
        let now = self.q.now();
        let (size, out) = self.sources.draw_size(wl, NONE);
        self.new_unit(wl, NONE, now, size, out);
        if let Some(t) = self.sources.next_arrival(wl, now) {
            if t < self.rec.window.duration {
                self.q.schedule(t, Ev::Arrival { wl: wl as u32 });
            }
        }
    }

    fn on_user(&mut self, user: usize) {
        let now = self.q.now();
        let wl = self.sources.users[user].wl as usize;
        match self.sources.turn(user, now) {
            Turn::Stop { closes } => {
                if closes {
                    self.rec.conv.change(&self.rec.window, now, -1);
                }
            }
            Turn::Go { pacing, opens } => {
                if opens {
                    self.rec.conv.change(&self.rec.window, now, 1);
                }
                let (size, out) = self.sources.draw_size(wl, user as u32);
                if pacing == Pacing::Loop {
                    self.new_unit(wl, user as u32, now, size, out);
                } else {
                    self.start_utterance(user, pacing, size, out);
                }
            }
        }
    }

    /// User `user` starts an utterance of `size` audio seconds now (a conversation turn).
    fn start_utterance(&mut self, user: usize, pacing: Pacing, size: f64, out: u32) {
        let now = self.q.now();
        let wl = self.sources.users[user].wl as usize;
        let end = now + from_secs(size).max(1);
        let unit = self.add_unit(wl, user as u32, end, size, out);
        let first = match &self.sources.workloads[wl].target {
            Target::Model(m) => *m,
            Target::Pipeline(p) => p.stages[0],
        };
        if pacing == Pacing::RealTime && matches!(self.models[first].server, ServerKind::AsrStream { .. }) {
            // The stream opens as the user starts speaking; its chunks follow the speech.
            self.send_stage(unit);
        } else {
            self.q.schedule(end, Ev::Speak { unit: unit as u32 });
        }
    }

    fn new_unit(&mut self, wl: usize, user: u32, now: SimTime, size: f64, out: u32) {
        let id = self.add_unit(wl, user, now, size, out);
        self.send_stage(id);
    }

    /// Create a unit whose clock (latency, first audio, timeout) starts at `arrival`.
    fn add_unit(&mut self, wl: usize, user: u32, arrival: SimTime, size: f64, out: u32) -> usize {
        let id = self.store.alloc_unit(Unit::new(wl as u32, user, arrival, size, out));
        let timeout = self.sources.workloads[wl].timeout;
        if timeout > 0 {
            let gen = self.store.units[id as usize].gen;
            self.q.schedule(arrival + timeout, Ev::Timeout { unit: id, gen });
        }
        id as usize
    }

    /// The request size of `unit`'s current stage: the first stage's is the unit's; later ones
    /// follow from the previous stage's kind (pipeline links).
    fn stage_request(&self, unit: &Unit) -> (usize, f64) {
        match &self.sources.workloads[unit.wl as usize].target {
            Target::Model(m) => (*m, unit.first_size),
            Target::Pipeline(p) => {
                use crate::model::ServiceKind::*;
                let m = p.stages[unit.stage as usize];
                let kind = self.models[m].kind;
                let prev = (unit.stage > 0).then(|| self.models[p.stages[unit.stage as usize - 1]].kind);
                let size = match (prev, kind) {
                    (None, _) => unit.first_size,
                    (Some(Asr), Llm) => p.prompt_base_tokens + (unit.first_size * p.words_per_audio_s * p.tokens_per_word).round(),
                    (Some(Llm), Tts) => (unit.out_tokens as f64 * p.chars_per_token).round().max(1.0),
                    (Some(Asr), Tts) => (unit.first_size * p.words_per_audio_s * p.tokens_per_word * p.chars_per_token)
                        .round()
                        .max(1.0),
                    (Some(_), _) => unit.first_size,
                };
                (m, size)
            }
        }
    }

    /// Send the current stage of `unit` as a request.
    fn send_stage(&mut self, unit: usize) {
        let now = self.q.now();
        let u = self.store.units[unit];
        let (model, size) = self.stage_request(&u);
        let out = u.out_tokens;
        self.rec.sent(model, now, size, out);
        let real_time = u.stage == 0
            && u.user != NONE
            && matches!(
                self.sources.workloads[u.wl as usize].load,
                Load::Closed {
                    pacing: Pacing::RealTime,
                    ..
                }
            );
        let id = self.store.alloc_req(Req {
            model: model as u32,
            unit: unit as u32,
            // The first stage's clock is the unit's: for a real-time stream, the end of the
            // speech its chunks are still arriving for.
            arrival: if u.stage == 0 { u.arrival } else { now },
            start: 0,
            first_token: 0,
            finish: 0,
            size,
            out_tokens: out.max(1),
            generated: 0,
            srv: NONE,
            chunks: 0,
            chunks_in: 0,
            chunks_done: 0,
            state: ReqState::Queued,
        });
        if !self.store.keep_records && self.store.in_flight() > crate::limits::MAX_IN_FLIGHT {
            // Memory stays bounded however far behind the deployment falls.
            self.rec.fail.rejected_requests += 1;
            self.fail_req(id as usize);
            self.store.release_req(id);
            return;
        }
        if let ServerKind::AsrStream { chunk_s, .. } = self.models[model].server {
            // A stream stays on one replica (its encoder cache), whatever the balancer.
            match self.router.pick(model, &self.servers) {
                Some(srv) => self.with_server(srv, |s, m, cx| {
                    if let server::Engine::Stream(e) = &mut s.engine {
                        e.open(&mut s.host, m, chunk_s, id, real_time, cx);
                    }
                }),
                None => {
                    self.reject_down(id as usize);
                    self.store.release_req(id);
                }
            }
            return;
        }
        // A request longer than the KV cache can hold is refused at admission.
        if let Some((_, l)) = self.models[model].llm() {
            if size + out as f64 > l.max_context_tokens as f64 {
                self.rec.fail.rejected_requests += 1;
                self.fail_req(id as usize);
                self.store.release_req(id);
                return;
            }
        }
        if self.router.shared_queue() {
            if !self.router.any_up(model, &self.servers) {
                self.reject_down(id as usize);
                self.store.release_req(id);
                return;
            }
            self.router.push_shared(model, id);
            // Wake an idle replica, lowest index first; busy ones pull when their call ends.
            if let Some(srv) = self.router.idle_replica(model, &self.servers) {
                let h = &mut self.servers[srv as usize].host;
                h.state = SrvState::Pending;
                let ev = h.dispatch_ev();
                self.q.schedule(now + self.models[model].dispatch, ev);
            }
            return;
        }
        match self.router.pick(model, &self.servers) {
            Some(srv) => {
                let h = &mut self.servers[srv].host;
                h.queue.push_back(id);
                h.outstanding += 1;
                self.router.touch(srv, &self.servers);
                let h = &mut self.servers[srv].host;
                match h.state {
                    SrvState::Idle => {
                        h.state = SrvState::Pending;
                        h.admit_budget = h.queue.len();
                        let ev = h.dispatch_ev();
                        self.q.schedule(now + self.models[model].dispatch, ev);
                    }
                    SrvState::Busy => self.with_server(srv, |s, m, cx| s.enqueued(m, cx)),
                    SrvState::Pending => {}
                }
            }
            None => {
                self.reject_down(id as usize);
                self.store.release_req(id);
            }
        }
    }

    /// The next chunk of a real-time stream has arrived at its server.
    fn on_chunk(&mut self, r: u32) {
        let q = self.store.reqs[r as usize];
        if matches!(q.state, ReqState::Failed | ReqState::Done) {
            // Lost in a crash while its speech went on: this was the last event naming it.
            self.store.release_req(r);
            return;
        }
        if let ServerKind::AsrStream { chunk_s, .. } = self.models[q.model as usize].server {
            self.with_server(q.srv as usize, |s, m, cx| {
                server::stream::Stream::chunk(&mut s.host, m, chunk_s, r, cx)
            });
        }
    }

    /// Refuse a request because every replica of its model is down, counting it against the
    /// kind of fault that took the first replica down.
    fn reject_down(&mut self, r: usize) {
        let q = self.store.reqs[r];
        self.rec.fail.rejected_requests += 1;
        if self.rec.measured(q.arrival) {
            let first = self.router.replicas[q.model as usize][0] as usize;
            let kind = self.servers[first].host.down_kind as usize;
            self.rec.models[q.model as usize].failed_by_kind[kind] += 1;
        }
        self.fail_req(r);
    }

    fn complete_req(&mut self, r: usize, now: SimTime) {
        let q = &mut self.store.reqs[r];
        if q.state == ReqState::Failed {
            return;
        }
        q.state = ReqState::Done;
        q.finish = now;
        let q = *q;
        let m = q.model as usize;
        let ttft = (self.models[m].kind == crate::model::ServiceKind::Llm).then(|| to_ms(q.first_token - q.arrival));
        self.rec.completed(m, q.arrival, now, ttft);
        self.stage_finished(q, now);
    }

    /// Time to first audio of request `q`'s stage, finished at `now`: ASR latency + LLM time to
    /// first token + TTS time to its first chunk: with streaming, TTS starts speaking from the
    /// LLM's first sentence, so the LLM's full generation is not on the path. The ASR latency of
    /// a conversation counts from the end of the user's speech. An in-flight TTS returns its
    /// first chunk when the request's `first_chunk_frames`-th frame step ends (recorded then). A
    /// static TTS with `tts_first_chunk_frames` streams its output: the first chunk comes that
    /// fraction of this call's actual duration (sharing may have stretched it) into the call;
    /// without streaming the whole TTS request is on the path.
    fn first_audio_part(&self, q: &Req, now: SimTime, stream_frames: f64) -> SimTime {
        use crate::model::Slowdown;
        match &self.models[q.model as usize].server {
            ServerKind::EncodeBatch { .. } | ServerKind::AsrStream { .. } => now - q.arrival,
            ServerKind::Llm { .. } | ServerKind::TtsInFlight { .. } => q.first_token - q.arrival,
            ServerKind::TtsStatic { synthesize, audio } if stream_frames > 0.0 => {
                let frames = audio.frames(q.size);
                let (full, _) = synthesize.latency_ms(1, frames, &Slowdown::IDENTITY);
                let (chunk, _) = synthesize.latency_ms(1, stream_frames.min(frames), &Slowdown::IDENTITY);
                (q.start - q.arrival) + ((now - q.start) as f64 * (chunk / full).min(1.0)) as SimTime
            }
            ServerKind::TtsStatic { .. } => now - q.arrival,
        }
    }

    fn stage_finished(&mut self, q: Req, now: SimTime) {
        let unit = q.unit as usize;
        let u = self.store.units[unit];
        if u.over() {
            return;
        }
        let wl = u.wl as usize;
        let n_stages = self.rec.workloads[wl].stages.len() as u32;
        let measured = self.rec.measured(u.arrival);
        if measured {
            self.rec.workloads[wl].stages[u.stage as usize].add(to_ms(now - q.arrival));
        }
        if let Target::Pipeline(p) = &self.sources.workloads[wl].target {
            let part = self.first_audio_part(&q, now, p.tts_first_chunk_frames);
            let heard = self.models[q.model as usize]
                .tts_audio()
                .map(|a| from_secs(a.audio_s(a.frames(q.size))));
            let unit = &mut self.store.units[unit];
            unit.first_audio += part;
            if let Some(heard) = heard {
                // The user hears the reply from its first audio for the audio's duration.
                unit.has_audio = true;
                unit.listen_until = unit.arrival + unit.first_audio + heard;
            }
        }
        if u.stage + 1 < n_stages {
            self.store.units[unit].stage += 1;
            self.send_stage(unit);
            return;
        }
        self.store.units[unit].done = true;
        let done = self.store.units[unit];
        let first_audio = done.has_audio.then(|| to_ms(done.first_audio));
        self.rec.unit_done(wl, u.arrival, now, to_ms(now - u.arrival), first_audio);
        self.unit_over(unit);
    }

    /// A unit finished or failed: a closed-loop user thinks, then sends the next turn. In a
    /// conversation the user first finishes speaking (a failed turn may fail before the speech
    /// ends) and hears the reply out (it may still be playing when the synthesis is done).
    fn unit_over(&mut self, unit: usize) {
        let u = self.store.units[unit];
        if u.user == NONE {
            return;
        }
        let now = self.q.now();
        if let Some(t) = self.sources.next_turn(u.user, now, u.failed, u.done, u.arrival, u.listen_until) {
            self.q.schedule(t, Ev::User { user: u.user });
        }
    }

    fn fail_req(&mut self, r: usize) {
        let q = &mut self.store.reqs[r];
        if q.state == ReqState::Failed || q.state == ReqState::Done {
            return;
        }
        q.state = ReqState::Failed;
        let q = *q;
        self.rec.failed(q.model as usize, q.arrival);
        self.fail_unit(q.unit as usize);
    }

    fn fail_unit(&mut self, unit: usize) {
        let u = self.store.units[unit];
        if u.over() {
            return;
        }
        self.store.units[unit].failed = true;
        self.rec.unit_failed(u.wl as usize, u.arrival);
        self.unit_over(unit);
    }

    fn on_timeout(&mut self, unit: usize) {
        let u = self.store.units[unit];
        if u.over() {
            return;
        }
        if self.rec.measured(u.arrival) {
            self.rec.fail.timed_out += 1;
            self.rec.workloads[u.wl as usize].timed_out += 1;
        }
        // The request in flight keeps its server busy (the server cannot know the client gave
        // up); only the unit is failed.
        self.fail_unit(unit);
    }

    // ------------------------------------------------------------------ faults

    fn on_crash(&mut self, k: usize) {
        let f = self.faults.list[k].clone();
        let Some(&srv) = self.router.replicas[f.model].get(f.replica) else {
            return;
        };
        let srv = srv as usize;
        let now = self.q.now();
        if let Some(t) = self.faults.next(k, now) {
            if t < self.horizon {
                self.q.schedule(t, Ev::Crash { fault: k as u32 });
            }
        }
        if !self.servers[srv].host.up {
            return;
        }
        self.rec.fail.crashes += 1;
        let kind = f.kind as usize;
        self.rec.fail.by_kind[kind] += 1;
        for v in faults::blast_radius(&self.servers, &self.devices, srv, f.kind) {
            self.kill_server(v as usize, now + f.restart, kind);
        }
    }

    // ------------------------------------------------------------------ autoscaling

    /// Server `srv` starts (`+1`) or stops (`-1`) running: its GPU's billing.
    fn bill(&mut self, srv: usize, delta: i32) {
        let g = self.devices[self.servers[srv].host.dev as usize].gpu as usize;
        let now = self.q.now();
        if let Some(b) = self.billing.as_mut() {
            b.change(g, now, delta);
        }
    }

    /// Server `srv` takes requests (or stops taking them).
    fn set_serving(&mut self, srv: usize, on: bool) {
        self.servers[srv].host.serving = on;
        self.router.touch(srv, &self.servers);
        let m = self.servers[srv].host.model as usize;
        let h = &mut self.servers[srv].host;
        // Requests that waited at the router are pulled by a replica that starts serving.
        if on && self.router.shared_queue() && self.router.shared_len(m) > 0 && h.up && h.state == SrvState::Idle {
            h.state = SrvState::Pending;
            let ev = h.dispatch_ev();
            self.q.schedule(self.q.now(), ev);
        }
    }

    /// The autoscaler of model `m` evaluates now: drained replicas go off, then its decision
    /// is applied, and the next evaluation is scheduled.
    fn on_scale(&mut self, m: usize) {
        let now = self.q.now();
        let Some(mut sc) = self.scalers[m].take() else { return };
        let reps = self.router.replicas[m].clone();
        for (p, &srv) in reps.iter().enumerate() {
            if sc.reps[p] == autoscale::Rep::Draining && self.servers[srv as usize].host.outstanding == 0 {
                sc.reps[p] = autoscale::Rep::Off;
                self.bill(srv as usize, -1);
            }
        }
        // Each replica's context busy time, for the utilisation over the interval.
        let span = now.saturating_sub(sc.last_eval).max(1) as f64;
        let mut utilization = 0.0;
        for (p, &srv) in reps.iter().enumerate() {
            let h = &self.servers[srv as usize].host;
            let busy = self.devices[h.dev as usize].busy.served[h.ctx as usize];
            if sc.reps[p] == autoscale::Rep::Serving {
                utilization += (busy - sc.busy_at_eval[p]) as f64 / span;
            }
            sc.busy_at_eval[p] = busy;
        }
        sc.last_eval = now;
        let load = match sc.policy.target {
            crate::scenario::ScaleTarget::Utilization(_) => utilization,
            crate::scenario::ScaleTarget::Outstanding(_) => {
                let outstanding: u64 = reps
                    .iter()
                    .enumerate()
                    .filter(|&(p, _)| sc.reps[p] == autoscale::Rep::Serving)
                    .map(|(_, &srv)| u64::from(self.servers[srv as usize].host.outstanding))
                    .sum::<u64>()
                    + self.router.shared_len(m) as u64;
                outstanding as f64
            }
        };
        let d = sc.evaluate(now, load);
        for &p in &d.revive {
            sc.reps[p] = autoscale::Rep::Serving;
            self.set_serving(reps[p] as usize, true);
        }
        for &p in &d.start {
            let srv = reps[p] as usize;
            sc.reps[p] = autoscale::Rep::Starting;
            self.bill(srv, 1);
            let mig = self.devices[self.servers[srv].host.dev as usize].instance.is_some();
            let at = now + sc.policy.startup + if mig { sc.policy.relayout } else { 0 };
            self.ready_at[srv] = at;
            self.q.schedule(at, Ev::Ready { srv: srv as u32 });
        }
        for &p in &d.remove {
            let srv = reps[p] as usize;
            if sc.reps[p] == autoscale::Rep::Starting {
                sc.reps[p] = autoscale::Rep::Off;
                self.bill(srv, -1);
                continue;
            }
            self.set_serving(srv, false);
            if self.servers[srv].host.outstanding == 0 {
                sc.reps[p] = autoscale::Rep::Off;
                self.bill(srv, -1);
            } else {
                sc.reps[p] = autoscale::Rep::Draining;
            }
        }
        sc.logged(now);
        let next = now + sc.policy.interval;
        self.scalers[m] = Some(sc);
        if next <= self.horizon {
            self.q.schedule(next, Ev::Scale { model: m as u32 });
        }
    }

    /// A replica the autoscaler started is ready, unless the start was cancelled since.
    fn on_ready(&mut self, srv: usize) {
        let m = self.servers[srv].host.model as usize;
        let p = self.router.replicas[m].iter().position(|&x| x as usize == srv).expect("a replica of its model");
        let now = self.q.now();
        let starting = self.scalers[m]
            .as_mut()
            .filter(|sc| sc.reps[p] == autoscale::Rep::Starting && self.ready_at[srv] == now);
        if let Some(sc) = starting {
            sc.reps[p] = autoscale::Rep::Serving;
            self.set_serving(srv, true);
        }
    }

    fn kill_server(&mut self, srv: usize, back_at: SimTime, kind: usize) {
        let mut lost: Vec<u32> = Vec::new();
        let s = &mut self.servers[srv];
        let was_busy = s.host.state == SrvState::Busy;
        // The server's lists are all that refer to these requests: once failed here, their
        // slots can be reused.
        s.kill(&self.models[s.host.model as usize], kind as u8, &mut lost);
        let (dev, ctx) = (s.host.dev as usize, s.host.ctx as usize);
        self.router.touch(srv, &self.servers);
        self.devices[dev].abort(ctx, was_busy, &mut self.q);
        self.power.end(dev);
        for &r in &lost {
            let q = self.store.reqs[r as usize];
            if q.state != ReqState::Failed && q.state != ReqState::Done {
                self.rec.lost(q.model as usize, q.arrival, kind);
                self.fail_req(r as usize);
            }
        }
        for &r in &lost {
            // A real-time stream's next chunk is still on its way: `on_chunk` releases it.
            let q = &self.store.reqs[r as usize];
            if q.chunks_in >= q.chunks {
                self.store.release_req(r);
            }
        }
        self.q.schedule(back_at, Ev::Restart { srv: srv as u32 });
    }
}

/// The autoscalers of a variant's autoscaled models, their replicas beyond `min_replicas` off
/// (not serving) and first evaluations scheduled, and the GPU billing; none without one.
fn start_autoscalers(
    scenario: &Scenario,
    variant: &str,
    replicas: &[Vec<u32>],
    servers: &mut [Server],
    devices: &[Device],
    n_gpus: usize,
    q: &mut EventQueue<Ev>,
) -> (Vec<Option<autoscale::Scaler>>, Option<autoscale::Billing>) {
    let mut scalers = vec![None; replicas.len()];
    let mut running = vec![0u32; n_gpus];
    for s in servers.iter() {
        running[devices[s.host.dev as usize].gpu as usize] += 1;
    }
    for (m, reps) in replicas.iter().enumerate() {
        let Some(policy) = scenario.autoscale.get(m).cloned().flatten().filter(|a| a.applies_to(variant)) else {
            continue;
        };
        if reps.is_empty() {
            continue;
        }
        let sc = autoscale::Scaler::new(policy, reps.len());
        for (p, &srv) in reps.iter().enumerate() {
            if sc.reps[p] == autoscale::Rep::Off {
                let h = &mut servers[srv as usize].host;
                h.serving = false;
                running[devices[h.dev as usize].gpu as usize] -= 1;
            }
        }
        q.schedule(sc.policy.interval, Ev::Scale { model: m as u32 });
        scalers[m] = Some(sc);
    }
    let billing = scalers.iter().any(Option::is_some).then(|| autoscale::Billing::new(running));
    (scalers, billing)
}

/// Run every variant of a scenario (in parallel, results in variant order).
pub fn run_scenario(scenario: &Scenario, seed: u64) -> Result<Vec<RunSummary>> {
    use rayon::prelude::*;
    let sims: Vec<Simulation> = (0..scenario.variants.len())
        .map(|v| Simulation::new(scenario, v, seed))
        .collect::<Result<_>>()?;
    Ok(sims.into_par_iter().map(Simulation::run_to_end).collect())
}

/// The kinds of fault in report order (the recorder's per-kind arrays follow it).
const _: () = assert!(FaultKind::ALL.len() == 4);
