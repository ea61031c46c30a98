//! One error type for the crate. Messages are user-facing: they name the file, the field and the
//! offending value (quoted 'like this') so that a wrong scenario can be fixed from the message
//! alone. `main` prints the message on one line and exits with status 2.

use std::fmt;

/// Everything that can go wrong between reading input and writing a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A value in an input file (or built-in data) is missing, malformed or out of range.
    Input {
        /// File (or embedded resource) that holds the value.
        file: String,
        /// Dotted path of the field, e.g. `variant[1].gpus[0].layout`.
        field: String,
        /// What is wrong, quoting the value.
        message: String,
    },
    /// A file could not be read or written.
    Io {
        /// Path involved.
        path: String,
        /// The OS error text.
        message: String,
    },
    /// A deployment is physically impossible (memory does not fit, MIG layout cannot be placed).
    Infeasible(String),
}

impl Error {
    /// Shorthand for [`Error::Input`].
    pub fn input(file: impl Into<String>, field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input {
            file: file.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Io`]: what failed on which path.
    pub fn io(path: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        Error::Io {
            path: path.to_string(),
            message: e.to_string(),
        }
    }

    /// Re-home an error that was raised without file context (e.g. by a parser of in-memory text).
    pub fn in_file(self, file: &str) -> Self {
        match self {
            Error::Input { file: f, field, message } if f.is_empty() => Error::Input {
                file: file.to_string(),
                field,
                message,
            },
            Error::Infeasible(m) => Error::Input {
                file: file.to_string(),
                field: String::new(),
                message: m,
            },
            e => e,
        }
    }
}

impl fmt::Display for Error {
    /// One line whatever the input: line breaks echoed from a file (a model name, a layout)
    /// are written as `\n`, `\r`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::Input { file, field, message } => {
                let file = if file.is_empty() { "<input>" } else { file };
                if field.is_empty() {
                    format!("{file}: {message}")
                } else {
                    format!("{file}: {field}: {message}")
                }
            }
            Error::Io { path, message } => format!("{path}: {message}"),
            Error::Infeasible(m) => m.clone(),
        };
        f.write_str(&text.replace('\n', "\\n").replace('\r', "\\r"))
    }
}

impl std::error::Error for Error {}

/// Crate-wide result.
pub type Result<T> = std::result::Result<T, Error>;

/// A number as a user would write it: plain, or in exponent form when very large or small.
pub fn num(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-4..1e9).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value with a line break (fuzzing found one in a MIG layout) stays on one line.
    #[test]
    fn messages_are_one_line() {
        let e = Error::input("a.toml", "models.x", "unknown model 'asr\nsecond line'");
        assert_eq!(e.to_string(), "a.toml: models.x: unknown model 'asr\\nsecond line'");
        assert!(!Error::Infeasible("a\r\nb".into()).to_string().contains('\n'));
    }
}
