//! Thin binary: parse arguments, run, exit with the status the command returns; print any error
//! on one line and exit 2.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match gpuslice::cli::Cli::try_parse() {
        Ok(cli) => cli,
        // `--help` and `--version` print as clap writes them; a usage error is one line (clap's
        // own adds a blank line and a "For more information" hint), with status 2.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.to_string();
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty())
                .collect();
            let msg = lines.join(" ");
            let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
            eprintln!("gpuslice: {msg} (see --help)");
            return ExitCode::from(2);
        }
    };
    match gpuslice::cli::run(cli) {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            eprintln!("gpuslice: {e}");
            ExitCode::from(2)
        }
    }
}
