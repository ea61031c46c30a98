//! The scenario edit language shared by `run --set`, `plan --set`, sweep axes and the planner's
//! emitted variants: `PATH=VALUE` on the scenario as written.
//!
//! Paths: `key`, `.key`, `[n]` and `[*]` (every element of an array), e.g.
//! `variant[*].gpus[0].quantum_ms` or `models.asr.max_batch`; a key with `.`, `[` or `]` in it is
//! written quoted: `models."asr.v2".max_batch`. A value is set on the scenario as TOML
//! ([`apply`]): every container on the path must exist, the last key may be new, and the edited
//! scenario is deserialised again, so a misspelt key or a value of the wrong type is refused
//! with the path named.

use super::raw::RawScenario;
use crate::error::{Error, Result};

/// One step of an axis path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A table key.
    Key(String),
    /// One array element.
    Index(usize),
    /// Every element of an array (`[*]`).
    All,
}

/// Parse an axis path: `key ( .key | [n] | [*] )*`, keys bare or `"quoted"`.
pub fn parse_path(path: &str) -> std::result::Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut rest = path;
    let mut need_key = true;
    while need_key || !rest.is_empty() {
        if need_key {
            let (key, after) = if let Some(r) = rest.strip_prefix('"') {
                let end = r.find('"').ok_or_else(|| format!("unclosed quote in '{path}'"))?;
                (&r[..end], &r[end + 1..])
            } else {
                let end = rest.find(['.', '[', ']', '"']).unwrap_or(rest.len());
                if rest[..end].contains(char::is_whitespace) {
                    return Err(format!("'{}' has a space: quote the key", &rest[..end]));
                }
                (&rest[..end], &rest[end..])
            };
            if key.is_empty() {
                return Err(format!("empty key in '{path}'"));
            }
            steps.push(Step::Key(key.to_string()));
            rest = after;
            need_key = false;
        } else if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            need_key = true;
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| format!("unclosed '[' in '{path}'"))?;
            let inner = &r[..end];
            steps.push(if inner == "*" {
                Step::All
            } else {
                Step::Index(
                    inner
                        .parse::<usize>()
                        .map_err(|_| format!("'[{inner}]' is neither an index nor [*]"))?,
                )
            });
            rest = &r[end + 1..];
        } else {
            return Err(format!("unexpected '{}' in '{path}'", rest.chars().next().unwrap_or(' ')));
        }
    }
    Ok(steps)
}

/// Set `value` at `steps` in `node`; `here` is the path walked so far, for messages. Returns the
/// number of places set (`[*]` on an empty array sets none).
fn set_at(node: &mut toml::Value, steps: &[Step], here: &str, value: &toml::Value) -> std::result::Result<usize, String> {
    let Some((step, rest)) = steps.split_first() else {
        *node = value.clone();
        return Ok(1);
    };
    let what = if here.is_empty() {
        "the scenario".to_string()
    } else {
        format!("'{here}'")
    };
    match step {
        Step::Key(k) => {
            let key = if k.contains(['.', '[', ']']) {
                format!("\"{k}\"")
            } else {
                k.clone()
            };
            let next = if here.is_empty() { key } else { format!("{here}.{key}") };
            let toml::Value::Table(t) = node else {
                return Err(format!("{what} is {} {}, not a table", article(node), node.type_str()));
            };
            match t.get_mut(k) {
                Some(child) => set_at(child, rest, &next, value),
                None if rest.is_empty() => {
                    t.insert(k.clone(), value.clone());
                    Ok(1)
                }
                None => {
                    let keys: Vec<&str> = t.keys().map(String::as_str).collect();
                    Err(format!("'{next}' does not exist (present: {})", keys.join(", ")))
                }
            }
        }
        Step::Index(n) => {
            let toml::Value::Array(a) = node else {
                return Err(format!("{what} is {} {}, not an array", article(node), node.type_str()));
            };
            let len = a.len();
            match a.get_mut(*n) {
                Some(child) => set_at(child, rest, &format!("{here}[{n}]"), value),
                None => Err(format!("'{here}[{n}]' does not exist ({what} has {len} entries)")),
            }
        }
        Step::All => {
            let toml::Value::Array(a) = node else {
                return Err(format!("{what} is {} {}, not an array", article(node), node.type_str()));
            };
            let mut hits = 0;
            for (i, child) in a.iter_mut().enumerate() {
                hits += set_at(child, rest, &format!("{here}[{i}]"), value)?;
            }
            Ok(hits)
        }
    }
}

fn article(v: &toml::Value) -> &'static str {
    if matches!(v, toml::Value::Array(_) | toml::Value::Integer(_)) {
        "an"
    } else {
        "a"
    }
}

/// Set an axis value on a scenario held as TOML (see the module doc for the rules).
pub fn apply(scenario: &mut toml::Value, steps: &[Step], value: &toml::Value) -> std::result::Result<(), String> {
    match set_at(scenario, steps, "", value)? {
        0 => Err("matches nothing ([*] of an empty array)".into()),
        _ => Ok(()),
    }
}

/// One `PATH=VALUE` edit of a scenario (`gpuslice run --set`, the planner's emitted variants):
/// the same paths as sweep axes, the value as TOML (`2.1`, `"device-reset"`, `[1, 2]`), checked
/// by deserialising the edited scenario again.
pub fn set_raw(raw: &RawScenario, assignment: &str, file: &str) -> Result<RawScenario> {
    let field = format!("--set {assignment}");
    let (path, value) = assignment.split_once('=').ok_or_else(|| {
        Error::input(
            file,
            &field,
            "expected PATH=VALUE, e.g. 'variant[*].faults[0].kind=\"device-reset\"'",
        )
    })?;
    let steps = parse_path(path.trim()).map_err(|m| Error::input(file, &field, format!("bad path: {m}")))?;
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {}", value.trim()))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .ok_or_else(|| {
            Error::input(
                file,
                &field,
                format!("'{}' is not a TOML value (quote strings: \"...\")", value.trim()),
            )
        })?;
    let mut v = toml::Value::try_from(raw).map_err(|e| Error::input(file, "", format!("cannot edit the scenario as TOML: {e}")))?;
    apply(&mut v, &steps, &value).map_err(|m| Error::input(file, &field, m))?;
    v.try_into::<RawScenario>()
        .map_err(|e| Error::input(file, &field, crate::gpu::one_line(&e.to_string())))
}

/// A value as a results.csv cell: strings bare, everything else as TOML writes it.
pub fn cell_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        use Step::*;
        assert_eq!(
            parse_path("variant[*].gpus[0].quantum_ms"),
            Ok(vec![
                Key("variant".into()),
                All,
                Key("gpus".into()),
                Index(0),
                Key("quantum_ms".into())
            ])
        );
        assert_eq!(
            parse_path("models.\"a.b\".max_batch"),
            Ok(vec![Key("models".into()), Key("a.b".into()), Key("max_batch".into())])
        );
        for bad in ["", "a.", "a[", "a[x]", ".a", "a]", "a b", "a[0]b", "\"a"] {
            assert!(parse_path(bad).is_err(), "'{bad}' parsed");
        }
    }
}
