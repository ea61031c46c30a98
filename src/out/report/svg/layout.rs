//! The GPU layout diagram: each GPU as a bar split among its tenants, a MIG GPU as its memory
//! slices over its compute slices with every instance where the placement puts it.

use super::{c, esc, open_svg, text_w, W};
use crate::gpu::mig::{COMPUTE_SLICES, MEM_SLOTS};
use std::fmt::Write;

/// A MIG instance on the layout diagram.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Profile, e.g. `3g.40gb`.
    pub profile: String,
    /// Memory slots `[start, end)` of [`MEM_SLOTS`].
    pub mem: (u32, u32),
    /// Compute slices `[start, end)` of [`COMPUTE_SLICES`].
    pub compute: (u32, u32),
    /// The model it serves (`None`: left empty).
    pub tenant: Option<String>,
}

/// What a GPU of the layout diagram holds.
#[derive(Debug, Clone)]
pub enum GpuContent {
    /// Tenants of the whole GPU (one when dedicated) and each one's share of its width (equal
    /// for time-slicing, the SM share under MPS).
    Whole(Vec<(String, f64)>),
    /// MIG instances.
    Mig(Vec<Slot>),
    /// Nothing planned on it (a spare GPU of a node).
    Spare,
}

/// One GPU row of the layout diagram.
#[derive(Debug, Clone)]
pub struct GpuBox {
    /// Left label, e.g. `gpu 0`.
    pub label: String,
    /// Regime, e.g. `mig`, `time-sliced`.
    pub regime: String,
    /// What runs on it.
    pub content: GpuContent,
}

/// The layout diagram: groups (variants, or nodes) of GPUs; MIG GPUs as their memory slots
/// over their compute slices with the instances placed on them, other GPUs as one bar split
/// among their tenants. `tenant_color` colours a model consistently. Compute slice `k` is drawn
/// under memory slot `k` (as in NVIDIA's MIG user guide), so an instance's two parts line up and
/// the last slot, which has no compute slice, shows as a gap in the lower lane.
pub fn gpu_layout(id: &str, title: &str, groups: &[(String, Vec<GpuBox>)], tenant_color: &dyn Fn(&str) -> &'static str) -> String {
    const LANE: f64 = 24.0;
    let label_w = groups
        .iter()
        .flat_map(|(_, g)| g.iter().map(|b| text_w(&b.label, 11.0).max(text_w(&b.regime, 10.0))))
        .fold(50.0, f64::max)
        .min(220.0);
    let (x0, x1) = (24.0 + label_w + 12.0, W - 24.0);
    let row_h = |b: &GpuBox| match b.content {
        GpuContent::Mig(_) => 2.0 * LANE + 14.0,
        _ => LANE + 14.0,
    };
    let any_mig = groups.iter().flat_map(|(_, g)| g).any(|b| matches!(b.content, GpuContent::Mig(_)));
    let mut h = 48.0 + if any_mig { 16.0 } else { 0.0 };
    for (_, g) in groups {
        h += 22.0 + g.iter().map(row_h).sum::<f64>();
    }
    h += 12.0;
    let mut o = String::new();
    open_svg(&mut o, id, title, h);
    let mut y = 44.0;
    if any_mig {
        let _ = write!(
            o,
            r#"<text class="tick" x="{}" y="{}">MIG GPUs: the {MEM_SLOTS} memory slots (top lane) over the {COMPUTE_SLICES} compute slices (bottom lane)</text>"#,
            c(x0),
            c(y + 4.0)
        );
        y += 16.0;
    }
    for (g, boxes) in groups {
        let _ = write!(o, r#"<text class="grp" x="24" y="{}">{}</text>"#, c(y + 15.0), esc(g));
        y += 22.0;
        for b in boxes {
            let _ = write!(o, r#"<text class="rowl" x="24" y="{}">{}</text>"#, c(y + 14.0), esc(&b.label));
            let _ = write!(o, r#"<text class="sub2" x="24" y="{}">{}</text>"#, c(y + 27.0), esc(&b.regime));
            match &b.content {
                GpuContent::Mig(slots) => {
                    let lanes = [(MEM_SLOTS, 0.0, true), (COMPUTE_SLICES, LANE, false)];
                    let sw = (x1 - x0) / f64::from(MEM_SLOTS);
                    for (n, dy, mem) in lanes {
                        for k in 0..n {
                            let _ = write!(
                                o,
                                r#"<rect class="slot" x="{}" y="{}" width="{}" height="{}" />"#,
                                c(x0 + f64::from(k) * sw),
                                c(y + dy),
                                c(sw),
                                c(LANE - 3.0)
                            );
                        }
                        for s in slots {
                            let (a, e) = if mem { s.mem } else { s.compute };
                            if e <= a {
                                continue;
                            }
                            let (fill, name) = match &s.tenant {
                                Some(t) => (tenant_color(t), t.as_str()),
                                None => ("#d9d9d9", "empty"),
                            };
                            let (rx, rw) = (x0 + f64::from(a) * sw + 1.0, f64::from(e - a) * sw - 2.0);
                            let _ = write!(
                                o,
                                r#"<rect class="inst" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} · {} · {} slices {}-{}</title></rect>"#,
                                c(rx),
                                c(y + dy + 1.0),
                                c(rw),
                                c(LANE - 5.0),
                                fill,
                                esc(&s.profile),
                                esc(name),
                                if mem { "memory" } else { "compute" },
                                a,
                                e - 1
                            );
                            let text = if mem {
                                format!("{} · {name}", s.profile)
                            } else {
                                name.to_string()
                            };
                            let text = if text_w(&text, 11.0) + 6.0 > rw { name.to_string() } else { text };
                            if text_w(&text, 11.0) + 4.0 <= rw {
                                let _ = write!(
                                    o,
                                    r#"<text class="it" x="{}" y="{}" text-anchor="middle">{}</text>"#,
                                    c(rx + rw / 2.0),
                                    c(y + dy + 15.0),
                                    esc(&text)
                                );
                            }
                        }
                    }
                }
                GpuContent::Whole(tenants) => {
                    let total: f64 = tenants.iter().map(|t| t.1.max(0.0)).sum::<f64>().max(1e-12);
                    let mut x = x0;
                    for (t, share) in tenants {
                        let w = (x1 - x0) * share.max(0.0) / total;
                        let _ = write!(
                            o,
                            r#"<rect class="inst" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} · {}</title></rect>"#,
                            c(x + 1.0),
                            c(y + 1.0),
                            c((w - 2.0).max(1.0)),
                            c(LANE - 5.0),
                            tenant_color(t),
                            esc(t),
                            esc(&b.regime)
                        );
                        if text_w(t, 11.0) + 4.0 <= w {
                            let _ = write!(
                                o,
                                r#"<text class="it" x="{}" y="{}" text-anchor="middle">{}</text>"#,
                                c(x + w / 2.0),
                                c(y + 15.0),
                                esc(t)
                            );
                        }
                        x += w;
                    }
                }
                GpuContent::Spare => {
                    let _ = write!(
                        o,
                        r#"<rect class="slot" x="{}" y="{}" width="{}" height="{}" /><text class="tick" x="{}" y="{}" text-anchor="middle">spare</text>"#,
                        c(x0),
                        c(y),
                        c(x1 - x0),
                        c(LANE - 3.0),
                        c((x0 + x1) / 2.0),
                        c(y + 15.0)
                    );
                }
            }
            y += row_h(b);
        }
    }
    o.push_str("</svg>");
    o
}
