use clap::Parser;
use ignis_bench::cli::Args;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    match ignis_bench::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ignis-bench: error: {error}");
            ExitCode::from(2)
        }
    }
}
