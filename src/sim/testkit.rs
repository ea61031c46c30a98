//! Fixtures for the components' unit tests: built-in models, a host on a whole GPU, requests
//! in a store, and an engine call's context.

use super::recorder::{Recorder, Window};
use super::server::{Cx, Host, Out};
use super::store::{Req, ReqState, Store, Unit, NONE};
use crate::model::{DeviceShare, Model};
use crate::time::{SimTime, SEC};

/// A built-in model (`h100/asr`, `h100/tts`, `h100/llm`) resolved, with `edit` applied to its
/// spec first.
pub(super) fn model(name: &str, edit: impl FnOnce(&mut crate::model::ModelSpec)) -> Model {
    let mut spec = crate::model::builtin(name).expect("built-in").expect("parses");
    edit(&mut spec);
    Model::resolve(spec, "test").expect("resolves")
}

/// A host for `model` alone on its whole reference GPU (its calls' exact table times).
pub(super) fn host(model: &Model) -> Host {
    let mut h = Host::new(
        0,
        model,
        0,
        0,
        0,
        "t".into(),
        DeviceShare::whole(&model.reference),
        crate::rng::stream_rng(1, 0, 0),
    );
    h.alone = true;
    h
}

/// A store holding one request per `(size, out_tokens)`, each its own unit, arrived at 0.
pub(super) fn store(reqs: &[(f64, u32)]) -> Store {
    let mut s = Store::default();
    for &(size, out) in reqs {
        let u = s.alloc_unit(Unit::new(0, NONE, 0, size, out));
        s.alloc_req(Req {
            model: 0,
            unit: u,
            arrival: 0,
            start: 0,
            first_token: 0,
            finish: 0,
            size,
            out_tokens: out,
            generated: 0,
            srv: NONE,
            chunks: 0,
            chunks_in: 0,
            chunks_done: 0,
            state: ReqState::Queued,
        });
    }
    s
}

/// A recorder for one model and one single-stage workload over a long window.
pub(super) fn recorder() -> Recorder {
    Recorder::new(
        Window {
            warmup: 0,
            duration: 1000 * SEC,
        },
        1,
        std::iter::once(1),
    )
}

/// An engine call's context at `now`.
pub(super) fn cx<'a>(now: SimTime, store: &'a mut Store, rec: &'a mut Recorder, out: &'a mut Vec<Out>) -> Cx<'a> {
    Cx {
        now,
        store,
        rec,
        out,
        blocks: true,
    }
}

/// The work of the one `Submit` among `out`.
pub(super) fn submitted(out: &[Out]) -> SimTime {
    let w: Vec<SimTime> = out
        .iter()
        .filter_map(|o| match o {
            Out::Submit(w, _) => Some(*w),
            _ => None,
        })
        .collect();
    assert_eq!(w.len(), 1, "one submission in {out:?}");
    w[0]
}

/// The requests completed among `out`, in order.
pub(super) fn completed(out: &[Out]) -> Vec<u32> {
    out.iter()
        .filter_map(|o| match o {
            Out::Complete(r) => Some(*r),
            _ => None,
        })
        .collect()
}
