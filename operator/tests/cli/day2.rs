//! Day-2 command line: `version`, `completion`, `run --context`, quiet exit on a closed pipe,
//! plain (uncoloured) logs off a terminal, and GitOps repositories read as they are laid out.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{assert_all, example, root, run};

fn stdout_of(args: &[&str]) -> String {
    let out = run(args, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn version_names_commit_client_versions_and_supported_kubernetes() {
    let out = stdout_of(&["version"]);
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    let locked = |name: &str| {
        let marker = format!("name = \"{name}\"\nversion = \"");
        let rest = &lock[lock.find(&marker).unwrap() + marker.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    };
    assert_all(
        &out,
        &[
            &format!("mutualis {}\n", env!("CARGO_PKG_VERSION")),
            &format!("kube: {}\n", locked("kube")),
            &format!("k8s-openapi: {}\n", locked("k8s-openapi")),
            "supported Kubernetes: 1.30+\n",
        ],
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root())
        .output();
    let commit = out
        .lines()
        .find_map(|l| l.strip_prefix("git commit: "))
        .unwrap();
    match head {
        Ok(h) if h.status.success() => {
            // Built from this checkout: the commit is HEAD's (or an earlier one when the
            // binary predates the last commit, which `cargo test` rebuilds away).
            assert!(
                commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()),
                "{commit}"
            );
        }
        _ => assert_eq!(commit, "unknown"),
    }
}

#[test]
fn completion_scripts_for_bash_zsh_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(&["completion", shell]);
        assert!(script.contains("mutualis"), "{shell}");
        for sub in ["render", "plan", "diff", "version", "completion"] {
            assert!(script.contains(sub), "{shell} completes {sub}");
        }
    }
    // The bash script is valid bash.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mutualis.bash");
    std::fs::write(&file, stdout_of(&["completion", "bash"])).unwrap();
    if let Ok(check) = Command::new("bash").arg("-n").arg(&file).output() {
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let out = run(&["completion", "tcsh"], None);
    assert_eq!(out.status.code(), Some(2));
    assert_all(
        &String::from_utf8_lossy(&out.stderr),
        &["tcsh", "bash", "zsh", "fish"],
    );
}

/// Runs the command with stdout a pipe, reads one line, closes the pipe, and returns the exit
/// status and standard error.
fn read_one_line_then_close(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mutualis"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(!line.is_empty());
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap(), stderr)
}

#[test]
fn a_closed_stdout_pipe_ends_plan_and_render_quietly() {
    // Far more output than a pipe buffers, so the writer does meet the closed pipe.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.yaml");
    std::fs::write(&file, super::scale::many_tenants(300)).unwrap();
    let path = file.to_str().unwrap();
    for args in [
        vec!["plan", "-f", path],
        vec!["plan", "-f", path, "-o", "json"],
        vec!["render", "-f", path],
        vec!["render", "-f", path, "-o", "json"],
    ] {
        let (status, stderr) = read_one_line_then_close(&args);
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

/// A kubeconfig whose current context names a missing context, and a context `dev` whose
/// server is a closed port (the operator starts and retries, which is all this needs).
fn kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\ncurrent-context: missing\nclusters:\n- name: dev\n  cluster: {server: 'http://127.0.0.1:9'}\nusers:\n- name: dev\n  user: {token: x}\ncontexts:\n- name: dev\n  context: {cluster: dev, user: dev}\n",
    )
    .unwrap();
    path
}

#[test]
fn run_uses_the_named_context_and_logs_without_colour_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path());
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mutualis"))
        .args([
            "run",
            "--context",
            "dev",
            "--http-addr",
            "127.0.0.1:0",
            "--log-format",
            "text",
        ])
        .env("KUBECONFIG", &config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("serving /healthz") || Instant::now() > deadline {
            break text;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("exited with {status}: {text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("serving /healthz"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no ANSI escapes in a log file: {text:?}"
    );

    // Without --context, the broken current context is used and refused clearly.
    let out = Command::new(env!("CARGO_BIN_EXE_mutualis"))
        .args(["run", "--http-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = Command::new(env!("CARGO_BIN_EXE_mutualis"))
        .args(["run", "--context", "nope", "--http-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_all(&String::from_utf8_lossy(&out.stderr), &["context \"nope\""]);
}

#[test]
fn a_gitops_repository_layout_is_read_skipping_other_api_groups() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("kustomization.yaml"),
        "resources: [namespace.yaml, catalog.yaml, coteaux-bordelais.yaml]\n",
    )
    .unwrap();
    std::fs::write(
        d.join("namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: mutualis-system}\n---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: mutualis}\n",
    )
    .unwrap();
    std::fs::write(d.join("catalog.yaml"), example("catalog.yaml")).unwrap();
    std::fs::write(
        d.join("coteaux-bordelais.yaml"),
        example("coteaux-bordelais.yaml"),
    )
    .unwrap();
    let path = d.to_str().unwrap();
    for command in ["plan", "render"] {
        let out = run(&[command, "-f", path], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{command}: {stderr}");
        assert_eq!(
            stderr,
            "skipped 2 documents of other API groups and 1 kustomization file\n"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("coteaux-bordelais"));
    }
    // A wrong mutualis.io document still fails, naming it.
    std::fs::write(
        d.join("typo.yaml"),
        "apiVersion: mutualis.io/v1alpha1\nkind: Tenat\nmetadata: {name: x}\n",
    )
    .unwrap();
    let out = run(&["plan", "-f", path], None);
    assert_eq!(out.status.code(), Some(1));
    assert_all(
        &String::from_utf8_lossy(&out.stderr),
        &["typo.yaml:1 (document 1)", "kind \"Tenat\""],
    );
    // Nothing of mutualis' at all is an error, not an empty success.
    let flux = root().join("examples/gitops/flux/operator");
    let out = run(&["plan", "-f", flux.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert_all(
        &String::from_utf8_lossy(&out.stderr),
        &[
            "no ServiceCatalog or Tenant",
            "skipped 2 documents of other API groups and 1 kustomization file",
        ],
    );
}
