//! Load sources: open-loop arrivals, trace replays and closed-loop users, each drawing from its
//! own seeded streams (arrival gaps, sizes, and per user think times, utterances and replies), so
//! that one source's draws never shift another's.
//!
//! A conversation (`pacing = "real-time"` or `"upload"`): a user speaks an utterance of `size`
//! audio seconds, waits for the reply, hears it (its frames at the TTS model's frame rate, from
//! its first audio), thinks and speaks again. A turn's clock (latency, time to first audio,
//! timeout) starts at the end of the speech. A conversation is active from its user's first
//! utterance until the user, past its ramp-down time, would speak again (docs/src/model/voice.md).

use super::engine::EventQueue;
use super::store::NONE;
use super::Ev;
use crate::rng::{stream_rng, SimRng};
use crate::scenario::workload::ArrivalGen;
use crate::scenario::{Load, Pacing, Workload};
use crate::time::{from_ms, to_ms, SimTime};
use rand_distr::{Distribution, Exp};

/// Least time a closed-loop user waits after a failed turn before the next [ns].
const RETRY_BACKOFF: SimTime = crate::time::SEC;

/// An open-loop or trace workload's generator and streams.
#[derive(Debug, Clone)]
struct WlRuntime {
    gen: Option<ArrivalGen>,
    arrivals_rng: SimRng,
    size_rng: SimRng,
    cursor: usize,
}

/// A closed-loop user.
#[derive(Debug, Clone)]
pub(super) struct User {
    pub(super) wl: u32,
    stop_at: SimTime,
    think_rng: SimRng,
    /// Conversation: the user's own utterance-length and reply-length streams.
    size_rng: SimRng,
    reply_rng: SimRng,
    /// Conversation: open (first utterance started, not yet left).
    in_session: bool,
}

/// Every workload's state.
#[derive(Debug, Clone)]
pub(super) struct Sources {
    pub(super) workloads: Vec<Workload>,
    wls: Vec<WlRuntime>,
    pub(super) users: Vec<User>,
}

/// A trace arrival time compressed by `scale` (2 = replayed twice as fast).
fn scaled(t: SimTime, scale: f64) -> SimTime {
    if scale == 1.0 {
        t
    } else {
        (t as f64 / scale).round() as SimTime
    }
}

/// What a user does when its turn comes.
pub(super) enum Turn {
    /// Its session is over.
    Stop {
        /// It was in a conversation, which now closes.
        closes: bool,
    },
    /// It sends (a request loop) or starts speaking (a conversation) now.
    Go {
        pacing: Pacing,
        /// A conversation opens with this turn.
        opens: bool,
    },
}

impl Sources {
    /// The sources of `workloads` seeded with `seed`, their first arrivals and users scheduled
    /// before `duration`. Returns them and the users of conversation workloads.
    pub(super) fn start(workloads: Vec<Workload>, seed: u64, duration: SimTime, q: &mut EventQueue<Ev>) -> (Sources, u32) {
        let mut wls = Vec::with_capacity(workloads.len());
        let mut users = Vec::new();
        let mut conv_users = 0;
        for (i, w) in workloads.iter().enumerate() {
            let src = w.stream.unwrap_or(i as u64);
            let mut rt = WlRuntime {
                gen: None,
                arrivals_rng: stream_rng(seed, src, 0),
                size_rng: stream_rng(seed, src, 1),
                cursor: 0,
            };
            match &w.load {
                Load::Open { arrivals, .. } => {
                    let g = ArrivalGen::new(arrivals);
                    let t = g.next(0, &mut rt.arrivals_rng);
                    rt.gen = Some(g);
                    if t < duration {
                        q.schedule(t, Ev::Arrival { wl: i as u32 });
                    }
                }
                Load::Trace { trace, scale, .. } => {
                    if let Some(r) = trace.rows.first() {
                        let t = scaled(r.arrival, *scale);
                        if t < duration {
                            q.schedule(t, Ev::Arrival { wl: i as u32 });
                        }
                    }
                }
                Load::Closed {
                    users: n_users,
                    ramp_up,
                    hold,
                    ramp_down,
                    pacing,
                    ..
                } => {
                    let n = (*n_users).max(1) as u64;
                    if *pacing != Pacing::Loop {
                        conv_users += *n_users;
                    }
                    for u in 0..*n_users as u64 {
                        let start = ramp_up * u / n;
                        let stop = ramp_up + hold + ramp_down * (u + 1) / n;
                        let id = users.len() as u32;
                        users.push(User {
                            wl: i as u32,
                            stop_at: stop.min(duration),
                            think_rng: stream_rng(seed, src, 100 + u),
                            // Purposes 100 + u are the think streams (u < 2^32 users).
                            size_rng: stream_rng(seed, src, (1 << 32) | u),
                            reply_rng: stream_rng(seed, src, (2 << 32) | u),
                            in_session: false,
                        });
                        q.schedule(start, Ev::User { user: id });
                    }
                }
            }
            wls.push(rt);
        }
        (Sources { workloads, wls, users }, conv_users)
    }

    /// An open-loop or trace workload's arrival is being served at `now`: its next arrival, if
    /// any (before `duration`, the caller checks).
    pub(super) fn next_arrival(&mut self, wl: usize, now: SimTime) -> Option<SimTime> {
        let rt = &mut self.wls[wl];
        match &self.workloads[wl].load {
            Load::Open { .. } => rt.gen.as_ref().map(|g| g.next(now, &mut rt.arrivals_rng)),
            Load::Trace { trace, scale, .. } => trace.rows.get(rt.cursor).map(|r| scaled(r.arrival, *scale)),
            Load::Closed { .. } => None,
        }
    }

    /// Size and output tokens of the next unit of workload `wl`, sent by `user` (`NONE`: an
    /// open-loop or trace arrival). A conversation's user draws from its own stream, so that
    /// users' utterances and replies are independent of one another and of the event order.
    pub(super) fn draw_size(&mut self, wl: usize, user: u32) -> (f64, u32) {
        let w = &self.workloads[wl];
        match &w.load {
            Load::Closed {
                pacing, size, out_tokens, ..
            } if *pacing != Pacing::Loop && user != NONE => {
                let u = &mut self.users[user as usize];
                let s = size.sample(&mut u.size_rng);
                let o = out_tokens
                    .as_ref()
                    .map_or(0, |d| d.sample(&mut u.reply_rng).round().max(1.0) as u32);
                (s, o)
            }
            Load::Open { size, out_tokens, .. } | Load::Closed { size, out_tokens, .. } => {
                let rt = &mut self.wls[wl];
                let s = size.sample(&mut rt.size_rng);
                let o = out_tokens
                    .as_ref()
                    .map_or(0, |d| d.sample(&mut rt.size_rng).round().max(1.0) as u32);
                (s, o)
            }
            Load::Trace { trace, out_tokens, .. } => {
                let rt = &mut self.wls[wl];
                let r = trace.rows[rt.cursor];
                rt.cursor += 1;
                let o = if r.out_tokens > 0 {
                    r.out_tokens
                } else {
                    out_tokens
                        .as_ref()
                        .map_or(0, |d| d.sample(&mut rt.size_rng).round().max(1.0) as u32)
                };
                (f64::from(r.size), o)
            }
        }
    }

    /// User `user`'s turn comes at `now`.
    pub(super) fn turn(&mut self, user: usize, now: SimTime) -> Turn {
        let u = &mut self.users[user];
        let pacing = match self.workloads[u.wl as usize].load {
            Load::Closed { pacing, .. } => pacing,
            _ => Pacing::Loop,
        };
        if now >= u.stop_at {
            let closes = std::mem::take(&mut u.in_session);
            return Turn::Stop { closes };
        }
        let opens = pacing != Pacing::Loop && !std::mem::replace(&mut u.in_session, true);
        Turn::Go { pacing, opens }
    }

    /// A unit of `user` is over at `now` (`failed`, or done with the reply heard until
    /// `listen_until`, speech having ended at `arrival`): when the user's next turn comes. A
    /// client backs off after an error before it tries again (gRPC's initial connection backoff
    /// is 1 s: github.com/grpc/grpc doc/connection-backoff.md); that also keeps a refused turn,
    /// which takes no simulated time, from retrying at the same instant forever (a livelock
    /// fuzzing found).
    pub(super) fn next_turn(
        &mut self,
        user: u32,
        now: SimTime,
        failed: bool,
        done: bool,
        arrival: SimTime,
        listen_until: SimTime,
    ) -> Option<SimTime> {
        let u = &mut self.users[user as usize];
        let Load::Closed {
            think,
            think_exponential,
            pacing,
            ..
        } = self.workloads[u.wl as usize].load
        else {
            return None;
        };
        let mut z = if think_exponential {
            from_ms(Exp::new(1.0).map(|e| e.sample(&mut u.think_rng)).unwrap_or(1.0) * to_ms(think))
        } else {
            think
        };
        if failed {
            z = z.max(RETRY_BACKOFF);
        }
        let from = match pacing {
            Pacing::Loop => now,
            _ if done => now.max(listen_until),
            _ => now.max(arrival),
        };
        Some(from + z)
    }
}
