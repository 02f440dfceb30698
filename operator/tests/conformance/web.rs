//! Websites: the `website-nginx` ConfigMap's `default.conf` under the main configuration of
//! nginx-unprivileged, checked by `nginx -t`, then served and asked for each domain.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{Server, require, rewrite, run, temp_dir, which, with_config_map, write};

/// The image's `/etc/nginx/nginx.conf`: the nginx package's file as nginx-unprivileged's
/// Dockerfile edits it (`user` removed, pid and temp paths in /tmp), with /tmp replaced by the
/// test's directory. The image links the log files to stdout/stderr; here they are the same.
fn main_conf(dir: &Path) -> String {
    format!(
        "worker_processes  auto;\n\
         error_log  stderr notice;\n\
         pid        {d}/nginx.pid;\n\
         events {{\n    worker_connections  1024;\n}}\n\
         http {{\n\
         \x20   proxy_temp_path {d}/proxy_temp;\n    client_body_temp_path {d}/client_temp;\n\
         \x20   fastcgi_temp_path {d}/fastcgi_temp;\n    uwsgi_temp_path {d}/uwsgi_temp;\n\
         \x20   scgi_temp_path {d}/scgi_temp;\n\
         \x20   include       /etc/nginx/mime.types;\n    default_type  application/octet-stream;\n\
         \x20   log_format  main  '$remote_addr - $remote_user [$time_local] \"$request\" '\n\
         \x20                     '$status $body_bytes_sent \"$http_referer\" '\n\
         \x20                     '\"$http_user_agent\" \"$http_x_forwarded_for\"';\n\
         \x20   access_log  /dev/stdout  main;\n    sendfile        on;\n    keepalive_timeout  65;\n\
         \x20   include {d}/conf.d/*.conf;\n}}\n",
        d = dir.display()
    )
}

/// A site laid out as git-sync v4 leaves it under its `--root`: a checkout of the synced
/// revision under `.worktrees/<hash>` and the link `current` pointing at it by a relative path
/// (git-sync's `publishSymlink`), from a real repository whose one commit holds `index.html`.
fn git_site(git_root: &Path, page: &str) {
    let repo = git_root.with_extension("origin");
    let git = |dir: &Path, args: &[&str]| {
        run(
            Command::new("git")
                .arg("-C")
                .arg(dir)
                .args([
                    "-c",
                    "user.name=mutualis",
                    "-c",
                    "user.email=test@example.org",
                ])
                .args(args),
            &format!("git {args:?}"),
        )
    };
    write(&repo.join("index.html"), page);
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "index.html"]);
    git(&repo, &["commit", "-q", "-m", "site"]);
    let hash = String::from_utf8(git(&repo, &["rev-parse", "HEAD"]).stdout).unwrap();
    let worktree = git_root.join(".worktrees").join(hash.trim());
    std::fs::create_dir_all(git_root).unwrap();
    run(
        Command::new("git")
            .args(["clone", "-q", "--depth", "1"])
            .arg(format!("file://{}", repo.display()))
            .arg(&worktree),
        "git clone",
    );
    std::os::unix::fs::symlink(
        Path::new(".worktrees").join(hash.trim()),
        git_root.join("current"),
    )
    .unwrap();
}

/// An HTTP/1.1 GET; returns (status, headers, body).
fn get(port: u16, host: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

#[test]
fn nginx_accepts_and_serves_each_domain_from_its_own_root() {
    if !require("website nginx", &["nginx", "git"]) {
        return;
    }
    let (mut tenants, mut git_sites) = (0, 0);
    for (f, data) in with_config_map("website-nginx") {
        let dir = temp_dir();
        let port = crate::support::free_port();
        let conf = &data["default.conf"];
        // The only rewrites: the port (8080 may be taken here) and the content volume's path.
        let listens = conf.matches("listen 8080").count();
        let mut local = rewrite(
            conf,
            "listen 8080",
            &format!("listen 127.0.0.1:{port}"),
            listens,
            &f.name,
        );
        let roots = local.matches("root /usr/share/nginx/html/").count();
        let html = dir.path().join("html");
        local = rewrite(
            &local,
            "root /usr/share/nginx/html/",
            &format!("root {}/", html.display()),
            roots,
            &f.name,
        );
        // The placeholder page is served from the ConfigMap's own directory.
        let placeholder_roots = local.matches("root /etc/nginx/conf.d;").count();
        local = rewrite(
            &local,
            "root /etc/nginx/conf.d;",
            &format!("root {};", dir.path().join("conf.d").display()),
            placeholder_roots,
            &f.name,
        );
        write(
            &dir.path().join("conf.d/placeholder.html"),
            &data["placeholder.html"],
        );
        write(&dir.path().join("conf.d/default.conf"), &local);
        let main = dir.path().join("nginx.conf");
        write(&main, &main_conf(dir.path()));
        // A distinct page in each domain's root: a directory named by the ASCII domain, or for
        // a git-sourced site git-sync's link on a clone of a real repository holding the page.
        let roots: Vec<String> = conf
            .lines()
            .filter_map(|l| l.trim().strip_prefix("root /usr/share/nginx/html/"))
            .map(|r| r.trim_end_matches(';').to_owned())
            .collect();
        let mut served: Vec<String> = Vec::new();
        for root in &roots {
            let d = match root.strip_prefix(".git-sync/") {
                Some(git) => {
                    let d = git
                        .strip_suffix("/current")
                        .expect("git-sync's link")
                        .to_owned();
                    git_site(&html.join(".git-sync").join(&d), &format!("site of {d}\n"));
                    git_sites += 1;
                    d
                }
                None => {
                    write(
                        &html.join(root).join("index.html"),
                        &format!("site of {root}\n"),
                    );
                    root.clone()
                }
            };
            served.push(d);
        }
        served.sort();
        // One root per website the tenant's status announces.
        let mut announced: Vec<String> = f
            .plan
            .endpoints
            .websites
            .iter()
            .map(|u| {
                let host = u.trim_start_matches("https://").trim_end_matches('/');
                idna::domain_to_ascii(host).unwrap()
            })
            .collect();
        announced.sort();
        assert_eq!(served, announced, "{}: a root per website endpoint", f.name);
        run(
            Command::new(which("nginx").unwrap())
                .arg("-t")
                .arg("-c")
                .arg(&main)
                .arg("-p")
                .arg(dir.path()),
            &format!("nginx -t, tenant {}, website-nginx/default.conf", f.name),
        );
        let mut server = Server::start(
            &format!("nginx for {}", f.name),
            Command::new(which("nginx").unwrap())
                .arg("-c")
                .arg(&main)
                .arg("-p")
                .arg(dir.path())
                .args(["-g", "daemon off;"]),
            &dir.path().join("nginx.log"),
        );
        server.wait_ready(|| TcpStream::connect(("127.0.0.1", port)).is_ok());
        let (status, _, body) = get(port, &format!("127.0.0.1:{port}"), "/healthz");
        assert_eq!(
            (status, body.as_str()),
            (200, "ok\n"),
            "{}: /healthz",
            f.name
        );
        for d in &served {
            for host in [d.clone(), format!("www.{d}")] {
                let (status, head, body) = get(port, &host, "/");
                assert_eq!(status, 200, "tenant {}, Host {host}: {head}", f.name);
                assert_eq!(
                    body,
                    format!("site of {d}\n"),
                    "tenant {}, Host {host}",
                    f.name
                );
                assert!(
                    head.to_lowercase()
                        .contains("x-content-type-options: nosniff"),
                    "tenant {}, Host {host}: {head}",
                    f.name
                );
                assert!(
                    !head.contains("nginx/"),
                    "tenant {}: server version shown: {head}",
                    f.name
                );
            }
        }
        // A git-sourced site does not show its repository.
        for root in roots.iter().filter(|r| r.starts_with(".git-sync/")) {
            let d = root
                .trim_start_matches(".git-sync/")
                .trim_end_matches("/current");
            assert_eq!(
                get(port, d, "/.git/config").0,
                404,
                "tenant {}: {d}/.git",
                f.name
            );
            assert_eq!(get(port, d, "/.git").0, 404, "tenant {}: {d}/.git", f.name);
        }
        // A site not published yet: its home page is the placeholder naming the host asked
        // for (nginx's SSI), its other pages stay 404.
        let fresh = &roots
            .iter()
            .find(|r| !r.starts_with(".git-sync/"))
            .unwrap()
            .clone();
        std::fs::remove_file(html.join(fresh).join("index.html")).unwrap();
        let (status, head, body) = get(port, fresh, "/");
        assert_eq!(status, 200, "tenant {}, fresh site {fresh}: {head}", f.name);
        assert!(
            body.contains(&format!("<h1>{fresh}</h1>")) && body.contains("en préparation"),
            "tenant {}, fresh site {fresh}: {body}",
            f.name
        );
        assert_eq!(
            get(port, fresh, "/missing.html").0,
            404,
            "tenant {}",
            f.name
        );
        for host in ["unknown.invalid", "127.0.0.1", "sallebœuf.fr"] {
            let (status, head, body) = get(port, host, "/");
            assert_eq!(status, 404, "tenant {}: unknown Host {host}", f.name);
            // The default server too: neither the header nor the error page names the version.
            assert!(
                !head.contains("nginx/") && !body.contains("nginx/"),
                "tenant {}: Host {host} shows the server version: {head}{body}",
                f.name
            );
            assert!(
                !body.contains("site of"),
                "tenant {}: Host {host} got a site: {body}",
                f.name
            );
        }
        tenants += 1;
    }
    assert!(tenants >= 4, "only {tenants} tenants have a website");
    assert!(git_sites >= 1, "no example serves a site from git");
}
