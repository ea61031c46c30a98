//! The power budget MIG instances of one physical GPU share. A MIG instance isolates SMs, L2
//! and memory, not power: a lone busy slice holds its boost clock, seven busy ones run at the
//! clock the power limit allows them together ([`crate::gpu::Sharing::clock`]). Each call on
//! an instance is paced when it starts by the compute activity running on its GPU at that
//! moment, its own included; calls are short against the changes of load, so a call keeps the
//! clock it started with. (MPS clients share one device, which solves its calls' clock with
//! its memory system, `device::mps`.)

use super::device::Device;
use super::server::CallLoad;
use crate::gpu::Sharing;
use crate::time::SimTime;

/// The MIG instances of each physical GPU that has several, and the activity of each one's
/// running call.
#[derive(Debug, Clone, Default)]
pub(super) struct Budget {
    sharing: Sharing,
    /// Per device: its group (index into `groups`), if its GPU has several MIG instances.
    group: Vec<Option<u32>>,
    /// Per group: its devices.
    groups: Vec<Vec<u32>>,
    /// Per device: the compute activity of its running call (0 when idle).
    activity: Vec<f64>,
}

impl Budget {
    pub(super) fn new(devices: &[Device], sharing: Sharing) -> Budget {
        let mut groups: Vec<(u32, Vec<u32>)> = Vec::new();
        for d in devices.iter().filter(|d| d.instance.is_some()) {
            match groups.iter_mut().find(|(g, _)| *g == d.gpu) {
                Some((_, members)) => members.push(d.id),
                None => groups.push((d.gpu, vec![d.id])),
            }
        }
        groups.retain(|(_, m)| m.len() > 1);
        let mut group = vec![None; devices.len()];
        for (k, (_, members)) in groups.iter().enumerate() {
            for &d in members {
                group[d as usize] = Some(k as u32);
            }
        }
        Budget {
            sharing,
            group,
            groups: groups.into_iter().map(|(_, m)| m).collect(),
            activity: vec![0.0; devices.len()],
        }
    }

    /// A call of `work` [ns] at `load` starts on device `dev`: its duration under the activity
    /// running on its GPU now.
    pub(super) fn start(&mut self, dev: usize, work: SimTime, load: CallLoad) -> SimTime {
        let Some(g) = self.group.get(dev).copied().flatten() else {
            return work;
        };
        self.activity[dev] = load.activity;
        let total: f64 = self.groups[g as usize].iter().map(|&d| self.activity[d as usize]).sum();
        let k = self.sharing.clock_slowdown(load.activity, total);
        if k == 1.0 {
            return work;
        }
        ((work as f64) * (1.0 + load.clocked * (k - 1.0))).round().max(1.0) as SimTime
    }

    /// Device `dev`'s call ended (or was dropped).
    pub(super) fn end(&mut self, dev: usize) {
        if let Some(a) = self.activity.get_mut(dev) {
            *a = 0.0;
        }
    }
}
