//! Runs a development cluster by hand without the operator binary:
//! `cargo run -p devcluster --example serve -- [PORT] [KUBECONFIG] [READY_DELAY_MS]`.

use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), devcluster::Error> {
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(6443);
    let kubeconfig = args.next().map(std::path::PathBuf::from);
    let delay = args.next().and_then(|d| d.parse().ok()).unwrap_or(2000);
    let config = devcluster::Config {
        port,
        ready_delay: Duration::from_millis(delay),
        ..Default::default()
    };
    devcluster::serve(config, kubeconfig).await
}
