//! Streaming ASR (`asr_mode = "streaming"`). A stream stays on one replica. Its audio arrives in
//! chunks of `chunk_s`: in real time, chunk k at `k * chunk_s` after the speech started;
//! otherwise (an upload, an open-loop arrival) all at once. A stream has one chunk call per
//! `chunk_s` of speech plus one: the final transcript needs one chunk of audio past the end of the
//! speech (the look-ahead of a cache-aware streaming encoder, whose latency is its chunk;
//! docs/sources.md S7.5), so the last chunk arrives `chunk_s` after the speech ends, possibly
//! short. Each call encodes one chunk of every stream with one ready, up to `max_batch` streams,
//! those waiting longest first, at the `encode_chunk` table's cost for (streams, `chunk_s`); a
//! stream's chunks are encoded in order, one per call.

use super::{Cx, Host, Out, SrvState};
use crate::model::{Model, OpTable};
use crate::sim::store::ReqState;
use crate::sim::Ev;
use crate::time::{from_secs, SimTime};

/// The streams of a streaming ASR server.
#[derive(Debug, Clone, Default)]
pub(in crate::sim) struct Stream {
    /// The streams in the running call.
    pub(in crate::sim) batch: Vec<u32>,
    /// Every stream attached (waiting for audio, ready, or in the call).
    pub(in crate::sim) streams: Vec<u32>,
}

/// A chunk's duration on the clock.
fn chunk_ns(chunk_s: f64) -> SimTime {
    from_secs(chunk_s).max(1)
}

impl Stream {
    /// Attach request `r`. Real time: its audio is still being spoken and ends at the request's
    /// arrival; otherwise every chunk is there now.
    pub(in crate::sim) fn open(&mut self, h: &mut Host, model: &Model, chunk_s: f64, r: u32, real_time: bool, cx: &mut Cx) {
        let chunk = chunk_ns(chunk_s);
        let q = &mut cx.store.reqs[r as usize];
        let speech = if real_time { q.arrival - cx.now } else { from_secs(q.size) }.max(1);
        q.srv = h.id;
        q.chunks = (speech.div_ceil(chunk) + 1).min(u64::from(u32::MAX)) as u32;
        self.streams.push(r);
        h.outstanding += 1;
        if real_time {
            q.state = ReqState::Streaming;
            cx.out.push(Out::At(cx.now + chunk, Ev::Chunk { req: r }));
        } else {
            q.chunks_in = q.chunks;
            h.queue.push_back(r);
            h.wake(model, cx);
        }
    }

    /// The next chunk of real-time stream `r` has arrived.
    pub(in crate::sim) fn chunk(h: &mut Host, model: &Model, chunk_s: f64, r: u32, cx: &mut Cx) {
        let q = &mut cx.store.reqs[r as usize];
        q.chunks_in += 1;
        if q.chunks_in < q.chunks {
            // Chunk k comes k chunks after the speech started, the last one a chunk after it
            // ended (the request's arrival).
            let chunk = chunk_ns(chunk_s);
            let next = (cx.now + chunk).min(q.arrival + chunk);
            cx.out.push(Out::At(next, Ev::Chunk { req: r }));
        }
        if q.state == ReqState::Streaming {
            q.state = ReqState::Queued;
            h.queue.push_back(r);
            h.wake(model, cx);
        }
    }

    /// The next call: one chunk of each ready stream, oldest first.
    pub(super) fn dispatch(&mut self, h: &mut Host, model: &Model, op: &OpTable, chunk_s: f64, cx: &mut Cx) {
        self.batch.clear();
        while self.batch.len() < model.max_batch as usize {
            let Some(r) = h.queue.pop_front() else { break };
            let q = &mut cx.store.reqs[r as usize];
            q.state = ReqState::Running;
            if q.chunks_done == 0 {
                q.start = cx.now;
            }
            self.batch.push(r);
        }
        if self.batch.is_empty() {
            h.state = SrvState::Idle;
            return;
        }
        h.state = SrvState::Busy;
        h.submit_table(op, self.batch.len() as u32, chunk_s, model, cx);
    }

    /// A chunk call ended: each stream moves one chunk on; a stream whose last chunk this was
    /// has its final transcript now.
    pub(super) fn call_done(&mut self, h: &mut Host, cx: &mut Cx) {
        for &r in &self.batch {
            let q = &mut cx.store.reqs[r as usize];
            if q.state != ReqState::Running {
                continue;
            }
            q.chunks_done += 1;
            if q.chunks_done >= q.chunks {
                if let Some(i) = self.streams.iter().position(|&x| x == r) {
                    self.streams.swap_remove(i);
                }
                h.outstanding -= 1;
                cx.out.push(Out::Complete(r));
                cx.out.push(Out::Release(r));
            } else if q.chunks_in > q.chunks_done {
                q.state = ReqState::Queued;
                h.queue.push_back(r);
            } else {
                q.state = ReqState::Streaming;
            }
        }
        self.batch.clear();
    }

    pub(super) fn kill(&mut self, lost: &mut Vec<u32>) {
        lost.append(&mut self.batch);
        // Streams waiting for audio are in neither the queue nor the call.
        lost.append(&mut self.streams);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerKind;
    use crate::sim::testkit::*;
    use crate::time::{from_ms, SEC};

    fn streaming(s: &mut crate::model::ModelSpec) {
        s.asr_mode = crate::model::AsrMode::Streaming;
        s.call_noise = 0.0;
    }

    #[test]
    fn a_real_time_stream_has_a_chunk_per_chunk_of_speech_plus_one_and_queues_as_chunks_arrive() {
        let m = model("h100/asr", streaming);
        let ServerKind::AsrStream { chunk_s, .. } = m.server else {
            panic!("streaming")
        };
        // Speech ends at 1 s (the request's arrival); the stream opens as it starts, at 0.
        let (mut st, mut rec, mut out) = (store(&[(1.0, 1)]), recorder(), Vec::new());
        st.reqs[0].arrival = SEC;
        let mut h = host(&m);
        let mut e = Stream::default();
        e.open(&mut h, &m, chunk_s, 0, true, &mut cx(0, &mut st, &mut rec, &mut out));
        // ceil(1 / 0.32) = 4 chunks of speech, plus the look-ahead chunk.
        assert_eq!(st.reqs[0].chunks, 5);
        assert_eq!(
            (st.reqs[0].state, h.outstanding, e.streams.clone()),
            (ReqState::Streaming, 1, vec![0])
        );
        let chunk = from_secs(chunk_s);
        assert!(matches!(out[..], [Out::At(t, Ev::Chunk { req: 0 })] if t == chunk));
        // The first chunk arrives: the stream is ready and the idle server wakes.
        out.clear();
        Stream::chunk(&mut h, &m, chunk_s, 0, &mut cx(chunk, &mut st, &mut rec, &mut out));
        assert_eq!((st.reqs[0].chunks_in, st.reqs[0].state), (1, ReqState::Queued));
        assert_eq!(h.queue.front(), Some(&0));
        assert!(
            matches!(out[..], [Out::At(t, Ev::Chunk { .. }), Out::At(d, Ev::Dispatch { .. })] if t == 2 * chunk && d == chunk + m.dispatch)
        );
    }

    #[test]
    fn an_upload_is_queued_whole_and_finishes_after_its_last_chunk_call() {
        let m = model("h100/asr", streaming);
        let ServerKind::AsrStream {
            chunk_s, ref encode_chunk, ..
        } = m.server
        else {
            panic!("streaming")
        };
        let (mut st, mut rec, mut out) = (store(&[(0.5, 1)]), recorder(), Vec::new());
        let mut h = host(&m);
        let mut e = Stream::default();
        e.open(&mut h, &m, chunk_s, 0, false, &mut cx(0, &mut st, &mut rec, &mut out));
        // 0.5 s of audio: 2 chunks + 1, all there at once.
        assert_eq!((st.reqs[0].chunks, st.reqs[0].chunks_in), (3, 3));
        let mut calls = 0;
        while completed(&out).is_empty() {
            out.clear();
            e.dispatch(&mut h, &m, encode_chunk, chunk_s, &mut cx(0, &mut st, &mut rec, &mut out));
            let w = submitted(&out);
            assert_eq!(
                w,
                from_ms(encode_chunk.latency_ms(1, chunk_s, &crate::model::Slowdown::IDENTITY).0).max(1)
            );
            out.clear();
            e.call_done(&mut h, &mut cx(w, &mut st, &mut rec, &mut out));
            calls += 1;
        }
        assert_eq!(calls, 3);
        assert!(e.streams.is_empty() && h.outstanding == 0);
    }
}
