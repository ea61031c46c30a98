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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input { file, field, message } => {
                let file = if file.is_empty() { "<input>" } else { file };
                if field.is_empty() {
                    write!(f, "{file}: {message}")
                } else {
                    write!(f, "{file}: {field}: {message}")
                }
            }
            Error::Io { path, message } => write!(f, "{path}: {message}"),
            Error::Infeasible(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Crate-wide result.
pub type Result<T> = std::result::Result<T, Error>;
