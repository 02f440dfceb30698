//! The `mutualis` binary: one subcommand enum, each arm delegating to the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mutualis",
    version,
    about = "Pooled digital services for a syndicate's subscribers, on Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions (ServiceCatalog, Tenant) as YAML.
    Crd,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd => mutualis::cli::crd::run(&mut std::io::stdout().lock()).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let err: Box<dyn std::error::Error> = err;
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
