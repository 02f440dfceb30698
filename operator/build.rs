//! Build facts for `mutualis version`: the git commit (`unknown` outside a git checkout, as in
//! a source tarball) and the kube and k8s-openapi versions, read from the workspace's
//! Cargo.lock so they can never disagree with what was compiled in.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// The version of `package` in a Cargo.lock text.
fn locked_version(lock: &str, package: &str) -> Option<String> {
    let marker = format!("name = \"{package}\"\nversion = \"");
    let start = lock.find(&marker)? + marker.len();
    let end = lock[start..].find('"')?;
    Some(lock[start..start + end].to_owned())
}

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MUTUALIS_GIT_COMMIT={commit}");
    // Rebuild on a new commit or checkout: the worktree's HEAD and its reflog move then.
    for path in ["HEAD", "logs/HEAD"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let lock_path = Path::new(&manifest).join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    let lock = std::fs::read_to_string(&lock_path).unwrap_or_default();
    for (package, var) in [
        ("kube", "MUTUALIS_KUBE_VERSION"),
        ("k8s-openapi", "MUTUALIS_K8S_OPENAPI_VERSION"),
    ] {
        let version = locked_version(&lock, package).unwrap_or_else(|| "unknown".into());
        println!("cargo:rustc-env={var}={version}");
    }
}
