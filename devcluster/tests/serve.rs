//! `devcluster::serve`, as `mutualis devcluster --port N --kubeconfig FILE` runs it: it writes a
//! kubeconfig that kubectl can use as it is.

mod common;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_writes_a_usable_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.kubeconfig");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = devcluster::Config {
        port,
        ..Default::default()
    };
    let task = tokio::spawn(devcluster::serve(config, Some(path.clone())));
    assert!(
        common::eventually(Duration::from_secs(10), async || path.exists()).await,
        "kubeconfig written"
    );
    let p = path.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&p)
            .args(["get", "namespaces", "-o", "name"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains(&format!("server: http://127.0.0.1:{port}"))
    );
    task.abort();
}
