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
