//! The command line: `simulate`, the main job.

mod activity;
mod progress;
mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Record spikes and signals from every MPI rank into one NIX (.nio) file that Neo reads.
///
/// Run `simulate` as a plain process or under `mpirun -n N` / `srun`: every rank records
/// its share of the cells and all ranks write one file together.
#[derive(Debug, Parser)]
#[command(name = "bsb-results", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Simulate(simulate::Args),
}

/// Parses the arguments and runs the command; errors print one line and exit non-zero.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(args) => simulate::main(&args),
    }
}
