//! Runs a development cluster by hand without the operator binary:
//! `cargo run -p devcluster --example serve -- [PORT] [KUBECONFIG] [READY_DELAY_MS] [FLAGS]`
//!
//! Flags (anywhere on the line): `--pod-security-strict`, `--no-pod-security`,
//! `--no-resource-quota`, `--no-limit-range-defaults`, `--load-balancer-pool=CIDR`,
//! `--ingress-address=IPV4`, `--faults=RULES` (README.md, Fault injection).

use std::time::Duration;

fn usage_error(msg: &str) -> ! {
    eprintln!("serve: {msg}");
    eprintln!(
        "usage: serve [PORT] [KUBECONFIG] [READY_DELAY_MS] [--pod-security-strict] [--no-pod-security] [--no-resource-quota] [--no-limit-range-defaults] [--load-balancer-pool=CIDR] [--ingress-address=IPV4] [--faults=RULES]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<(), devcluster::Error> {
    let mut config = devcluster::Config::default();
    let mut positional = Vec::new();
    for arg in std::env::args().skip(1) {
        let (flag, value) = arg.split_once('=').unwrap_or((&arg, ""));
        match flag {
            "--pod-security-strict" => config.pod_security_strict = true,
            "--no-pod-security" => config.pod_security = false,
            "--no-resource-quota" => config.resource_quota = false,
            "--no-limit-range-defaults" => config.limit_range_defaults = false,
            "--load-balancer-pool" => {
                config.load_balancer_pool = value
                    .parse()
                    .unwrap_or_else(|e: devcluster::PoolError| usage_error(&e.to_string()))
            }
            "--ingress-address" => {
                config.ingress_address = value.parse().unwrap_or_else(|_| {
                    usage_error(&format!(
                        "--ingress-address {value:?} is not an IPv4 address (e.g. 203.0.113.10)"
                    ))
                })
            }
            "--faults" => {
                config.faults = value
                    .parse()
                    .unwrap_or_else(|e: devcluster::FaultPlanError| usage_error(&e.to_string()))
            }
            f if f.starts_with("--") => usage_error(&format!("unknown flag {f:?}")),
            _ => positional.push(arg),
        }
    }
    let mut args = positional.into_iter();
    config.port = args.next().and_then(|p| p.parse().ok()).unwrap_or(6443);
    let kubeconfig = args.next().map(std::path::PathBuf::from);
    let delay = args.next().and_then(|d| d.parse().ok()).unwrap_or(2000);
    config.ready_delay = Duration::from_millis(delay);
    devcluster::serve(config, kubeconfig).await
}
