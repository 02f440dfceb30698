//! The `mutualis` binary: one subcommand enum, each arm delegating to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mutualis::cli::{self, Format, Offline};

/// mimalloc rather than the system allocator: measured in `cargo bench --bench scale` (see
/// `docs/architecture.md`, "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Print every Kubernetes object the operator would create for each Tenant (offline).
    Render(OfflineArgs),
    /// Summarise, per Tenant, tier, members, storage, contribution, DNS records and objects.
    Plan(OfflineArgs),
    /// Print the CustomResourceDefinitions (ServiceCatalog, Tenant) as YAML.
    Crd,
    /// Run the operator against the cluster of the kubeconfig (or in-cluster config).
    Run(cli::run::RunArgs),
    /// Quick start without a cluster: development cluster + CRDs + examples + operator.
    #[cfg(feature = "dev")]
    Dev(cli::dev::DevArgs),
    /// Serve only the development cluster (an in-memory Kubernetes API) for kubectl.
    #[cfg(feature = "dev")]
    Devcluster(DevclusterArgs),
    /// Per Tenant, what applying PATH would change in the live cluster (server-side dry run).
    Diff(cli::diff::DiffArgs),
    /// Restore one service's volume of a Tenant from a snapshot of its backups (a K8up Restore).
    Restore(cli::restore::RestoreArgs),
    /// Print the version, git commit, Kubernetes client versions and supported Kubernetes.
    Version,
    /// Print a shell completion script (bash, zsh or fish).
    Completion(CompletionArgs),
}

#[derive(Args)]
struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[cfg(feature = "dev")]
#[derive(Args)]
struct DevclusterArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// Where to write a kubeconfig pointing at it.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Milliseconds the simulated workloads take to become ready.
    #[arg(long, default_value_t = 500)]
    ready_delay_ms: u64,
    /// Refuse workloads whose pods the namespace's Pod Security `enforce` level would refuse
    /// (upstream only refuses the pods, which the development cluster does not run).
    #[arg(long)]
    pod_security_strict: bool,
    /// Faults to inject into requests, e.g.
    /// `seed=1; verbs=create|patch,fraction=0.1,error=409|429|500,when=before|after`
    /// (devcluster/README.md, Fault injection).
    #[arg(long, env = "DEVCLUSTER_FAULTS", default_value = "")]
    faults: devcluster::FaultPlan,
}

#[derive(Args)]
struct OfflineArgs {
    /// YAML file (multi-document allowed), directory of .yaml/.yml files, or - for stdin,
    /// holding ServiceCatalogs and Tenants. Repeatable.
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Output format: text (YAML for render, a summary for plan), yaml, or json.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
    output: Format,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    // Commands whose output is made to be piped (`| head`): a reader that stops early is
    // not an error of theirs.
    let pipes = matches!(
        cli.command,
        Command::Render(_)
            | Command::Plan(_)
            | Command::Crd
            | Command::Version
            | Command::Completion(_)
    );
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Render(a) => offline(Offline::Render, a, &mut stdout),
        Command::Plan(a) => offline(Offline::Plan, a, &mut stdout),
        Command::Crd => cli::crd::run(&mut stdout).map_err(Into::into),
        Command::Version => cli::version::write(&mut stdout).map_err(Into::into),
        Command::Completion(a) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(a.shell, &mut command, "mutualis", &mut stdout);
            std::io::Write::flush(&mut stdout).map_err(Into::into)
        }
        Command::Diff(a) => {
            return match runtime().block_on(cli::diff::run(a, &mut stdout)) {
                Ok(outcome) => ExitCode::from(outcome.exit_code()),
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Restore(a) => {
            return match runtime().block_on(cli::restore::run(a, &mut stdout)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Run(a) => runtime().block_on(cli::run::run(a)).map_err(Into::into),
        #[cfg(feature = "dev")]
        Command::Dev(a) => runtime().block_on(cli::dev::run(a)).map_err(Into::into),
        #[cfg(feature = "dev")]
        Command::Devcluster(a) => runtime()
            .block_on(devcluster::serve(
                devcluster::Config {
                    port: a.port,
                    ready_delay: std::time::Duration::from_millis(a.ready_delay_ms),
                    pod_security_strict: a.pod_security_strict,
                    faults: a.faults,
                    ..Default::default()
                },
                a.kubeconfig,
            ))
            .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if pipes && cli::closed_pipe(err.as_ref()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

fn offline(
    command: Offline,
    args: OfflineArgs,
    out: &mut dyn std::io::Write,
) -> Result<(), Box<dyn std::error::Error>> {
    cli::run_offline(
        command,
        &args.files,
        args.output,
        &mut std::io::stdin().lock(),
        out,
    )
    .map_err(Into::into)
}
