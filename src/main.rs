//! Thin binary: parse arguments, run, exit with the status the command returns; print any error
//! on one line and exit 2.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = gpuslice::cli::Cli::parse();
    match gpuslice::cli::run(cli) {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            eprintln!("gpuslice: {e}");
            ExitCode::from(2)
        }
    }
}
