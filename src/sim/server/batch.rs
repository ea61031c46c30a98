//! Whole requests in padded batches (offline ASR `encode`, static TTS `synthesize`): whenever the
//! GPU is free and requests wait, take up to `max_batch` of them in arrival order as one call,
//! padded to the longest (audio seconds, or the longest reply's frames); no batching delay.

use super::{Cx, Host, Out, SrvState};
use crate::model::{Model, OpTable, TtsAudio};
use crate::sim::store::ReqState;

/// The batch in its call.
#[derive(Debug, Clone, Default)]
pub(in crate::sim) struct Batch {
    pub(in crate::sim) batch: Vec<u32>,
}

impl Batch {
    /// Take the next batch and submit it; `audio` turns a TTS request's characters into frames.
    pub(super) fn dispatch(&mut self, h: &mut Host, model: &Model, op: &OpTable, audio: Option<&TtsAudio>, cx: &mut Cx) {
        if h.queue.is_empty() {
            h.state = SrvState::Idle;
            return;
        }
        self.batch.clear();
        let mut max_size: f64 = 0.0;
        while self.batch.len() < model.max_batch as usize {
            let Some(r) = h.queue.pop_front() else { break };
            self.batch.push(r);
            max_size = max_size.max(cx.store.reqs[r as usize].size);
        }
        let size = audio.map_or(max_size, |a| a.frames(max_size));
        for &r in &self.batch {
            let q = &mut cx.store.reqs[r as usize];
            q.state = ReqState::Running;
            q.start = cx.now;
        }
        h.state = SrvState::Busy;
        h.submit_table(op, self.batch.len() as u32, size, model, cx);
    }

    /// The call ended: every request of the batch is done.
    pub(super) fn call_done(&mut self, h: &mut Host, cx: &mut Cx) {
        cx.out.extend(self.batch.iter().map(|&r| Out::Complete(r)));
        cx.out.extend(self.batch.iter().map(|&r| Out::Release(r)));
        h.outstanding -= self.batch.len() as u32;
        self.batch.clear();
    }

    pub(super) fn kill(&mut self, lost: &mut Vec<u32>) {
        lost.append(&mut self.batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerKind;
    use crate::sim::testkit::*;
    use crate::time::from_ms;

    fn exact(m: &mut crate::model::ModelSpec) {
        m.call_noise = 0.0;
        m.cold_call_ms = 0.0;
    }

    #[test]
    fn a_batch_takes_the_queue_in_order_padded_to_its_longest_and_completes_together() {
        let m = model("h100/asr", exact);
        let ServerKind::EncodeBatch { encode } = &m.server else {
            panic!("offline ASR")
        };
        let (mut st, mut rec, mut out) = (store(&[(3.0, 1), (7.5, 1), (2.0, 1)]), recorder(), Vec::new());
        let mut h = host(&m);
        h.queue.extend([0, 1, 2]);
        h.outstanding = 3;
        let mut e = Batch::default();
        e.dispatch(&mut h, &m, encode, None, &mut cx(5, &mut st, &mut rec, &mut out));
        // One call of three utterances padded to the longest, 7.5 s (then to the 10 s bucket).
        assert_eq!(e.batch, vec![0, 1, 2]);
        let want = from_ms(encode.latency_ms(3, 7.5, &crate::model::Slowdown::IDENTITY).0).max(1);
        assert_eq!(submitted(&out), want);
        assert!(st.reqs.iter().all(|q| q.state == ReqState::Running && q.start == 5));
        assert_eq!(h.state, SrvState::Busy);
        out.clear();
        e.call_done(&mut h, &mut cx(5 + want, &mut st, &mut rec, &mut out));
        assert_eq!(completed(&out), vec![0, 1, 2]);
        assert_eq!(h.outstanding, 0);
        assert!(e.batch.is_empty());
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_and_a_tts_call_is_sized_in_frames() {
        let m = model("h100/tts", |s| {
            exact(s);
            s.max_batch = 2;
        });
        let ServerKind::TtsStatic { synthesize, audio } = &m.server else {
            panic!("static TTS")
        };
        let (mut st, mut rec, mut out) = (store(&[(100.0, 1), (40.0, 1), (300.0, 1)]), recorder(), Vec::new());
        let mut h = host(&m);
        h.queue.extend([0, 1, 2]);
        let mut e = Batch::default();
        e.dispatch(&mut h, &m, synthesize, Some(audio), &mut cx(0, &mut st, &mut rec, &mut out));
        assert_eq!((e.batch.clone(), h.queue.len()), (vec![0, 1], 1));
        let frames = audio.frames(100.0);
        let want = from_ms(synthesize.latency_ms(2, frames, &crate::model::Slowdown::IDENTITY).0).max(1);
        assert_eq!(submitted(&out), want);
    }

    #[test]
    fn the_first_call_at_a_cold_batch_shape_waits_for_its_set_up_on_the_host() {
        let m = model("h100/tts", |s| s.call_noise = 0.0);
        let ServerKind::TtsStatic { synthesize, audio } = &m.server else {
            panic!("static TTS")
        };
        let (mut st, mut rec, mut out) = (store(&[(100.0, 1)]), recorder(), Vec::new());
        let mut h = host(&m);
        h.queue.push_back(0);
        let mut e = Batch::default();
        e.dispatch(&mut h, &m, synthesize, Some(audio), &mut cx(0, &mut st, &mut rec, &mut out));
        // Batch 1 is not among the warmed batches: the call waits for the set-up (a Warmed event).
        assert!(
            matches!(out[..], [Out::At(t, crate::sim::Ev::Warmed { .. })] if t == m.cold_call),
            "{out:?}"
        );
        assert_eq!(h.cold_call, Some((1, audio.frames(100.0))));
        assert!(h.warm.contains(&1));
    }
}
