//! Integer simulated time. The clock counts nanoseconds in a `u64` so that event ordering is exact
//! (no float epsilon as in float-clock simulators) and a run of 584 years still fits. Conversions to
//! seconds or milliseconds happen only at the edges: input parsing, statistics and reports.

/// A point or span of simulated time [ns].
pub type SimTime = u64;

/// One millisecond [ns].
pub const MS: SimTime = 1_000_000;
/// One second [ns].
pub const SEC: SimTime = 1_000_000_000;

/// Milliseconds (finite, non-negative) to simulated time, rounded to the nearest ns.
pub fn from_ms(ms: f64) -> SimTime {
    debug_assert!(ms.is_finite() && ms >= 0.0, "bad duration {ms}");
    (ms * 1e6).round().max(0.0) as SimTime
}

/// Seconds (finite, non-negative) to simulated time.
pub fn from_secs(s: f64) -> SimTime {
    from_ms(s * 1e3)
}

/// Simulated time to milliseconds.
pub fn to_ms(t: SimTime) -> f64 {
    t as f64 / 1e6
}

/// Simulated time to seconds.
pub fn to_secs(t: SimTime) -> f64 {
    t as f64 / 1e9
}
