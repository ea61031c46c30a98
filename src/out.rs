//! Output at the edge: the run table and JSON document ([`table`]), a plan's scenario and
//! Kubernetes files ([`export`], written by [`k8s`]), and the HTML reports ([`report`]).

pub mod export;
pub mod k8s;
pub mod report;
pub mod table;

use serde::Serialize;

/// Serialise a report as one pretty JSON document with a trailing newline.
pub fn to_json<T: Serialize>(r: &T) -> String {
    let mut s = serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
