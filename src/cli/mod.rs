//! The command line: `simulate` (the main job), `inspect`, `provenance`, `dump`, `plot`, `recover`.

mod inspect;
mod interrupt;
mod isolate;
mod limits;
mod plot;
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
    Inspect(inspect::InspectArgs),
    Provenance(inspect::ProvenanceArgs),
    Dump(inspect::DumpArgs),
    Plot(plot::PlotArgs),
    Recover(RecoverArgs),
}

/// Roll back a write that was killed part way (its journal `FILE-journal` is beside it, or
/// its new file `.FILE.*.partial`).
///
/// Our reading commands read such a file's committed state without changing it; the next
/// write rolls it back by itself. Run this before opening such a file with
/// Neo or h5py. Prints what it did; exits non-zero with a one-line error otherwise.
#[derive(Debug, clap::Args)]
struct RecoverArgs {
    /// The .nio file.
    file: std::path::PathBuf,
}

/// Parses the arguments and runs the command; errors print one line and exit non-zero.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(args) => simulate::main(&args),
        Command::Inspect(args) => args.select.run(|| inspect::inspect(&args)),
        Command::Provenance(args) => args.select.run(|| inspect::provenance(&args)),
        Command::Dump(args) => args.select.run(|| inspect::dump(&args)),
        Command::Plot(args) => args.select.run(|| plot::plot(&args)),
        Command::Recover(args) => match bsb_results::journal::recover(&args.file) {
            Ok(true) => {
                println!("{}: rolled back an unfinished write", args.file.display());
                ExitCode::SUCCESS
            }
            Ok(false) => {
                println!("{}: nothing to recover", args.file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Prints a command's output, or its error on one line; a closed pipe (`| head`) is fine.
pub(crate) fn print(output: bsb_results::Result<String>) -> ExitCode {
    use std::io::Write;
    match output {
        Ok(text) => {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
