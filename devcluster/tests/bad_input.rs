//! Bad input answered as a real server would (never a panic or a hung connection), and a
//! seeded fuzz of raw HTTP requests against the request path.

mod common;

use common::start;
use devcluster::Config;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends raw bytes, returns the status code and body (bounded in time).
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    let run = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        // A server may answer (413) and close before reading all of an oversized body: the
        // write can then fail, and the answer is still to be read.
        let _ = s.write_all(request).await;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match tokio::time::timeout(Duration::from_millis(500), s.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => break,
            }
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, text)
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("server answered in time")
}

fn req(method: &str, path: &str, ct: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_real_statuses() {
    let env = start(Config::default()).await;
    let a = env.cluster.addr();
    let cms = "/api/v1/namespaces/default/configmaps";
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            req("POST", cms, "application/json", b"{not json"),
            400,
            "BadRequest",
        ),
        (
            req(
                "PATCH",
                &format!("{cms}/x?fieldManager=m"),
                "application/apply-patch+yaml",
                b"a: [unclosed",
            ),
            400,
            "BadRequest",
        ),
        (
            req(
                "POST",
                cms,
                "application/json",
                &vec![b' '; 3 * 1024 * 1024 + 10],
            ),
            413,
            "RequestEntityTooLarge",
        ),
        (
            req("GET", "/apis/nope.io/v1/things", "application/json", b""),
            404,
            "NotFound",
        ),
        (
            req(
                "GET",
                "/api/v1/namespaces/default/nothings/x",
                "application/json",
                b"",
            ),
            404,
            "NotFound",
        ),
        (
            req("PUT", cms, "application/json", b"{}"),
            405,
            "MethodNotAllowed",
        ),
        (
            req(
                "GET",
                &format!("{cms}?watch=true&resourceVersion=garbage"),
                "application/json",
                b"",
            ),
            400,
            "BadRequest",
        ),
        (
            req(
                "GET",
                &format!("{cms}?labelSelector=a%20in%20b"),
                "application/json",
                b"",
            ),
            400,
            "BadRequest",
        ),
        (
            req(
                "GET",
                &format!("{cms}?fieldSelector=spec.x%3Dy"),
                "application/json",
                b"",
            ),
            400,
            "BadRequest",
        ),
        (
            req(
                "POST",
                cms,
                "application/json",
                br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_DNS"}}"#,
            ),
            422,
            "Invalid",
        ),
        (
            req(
                "POST",
                cms,
                "application/json",
                br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}}"#,
            ),
            400,
            "BadRequest",
        ),
        (
            req(
                "PATCH",
                &format!("{cms}/x"),
                "application/apply-patch+yaml",
                b"{}",
            ),
            422,
            "Invalid",
        ),
        (
            req("PATCH", &format!("{cms}/x"), "text/plain", b"{}"),
            415,
            "UnsupportedMediaType",
        ),
        (
            req(
                "POST",
                &format!("{cms}?fieldValidation=Strict"),
                "application/json",
                br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":{"a":"1","a":"2"}}"#,
            ),
            400,
            "BadRequest",
        ),
        (
            req("GET", &format!("{cms}/missing"), "application/json", b""),
            404,
            "NotFound",
        ),
        (
            req(
                "DELETE",
                &format!("{cms}/missing"),
                "application/json",
                b"{}",
            ),
            404,
            "NotFound",
        ),
        (
            req(
                "DELETE",
                &format!("{cms}/missing"),
                "application/json",
                b"{oops",
            ),
            400,
            "BadRequest",
        ),
    ];
    for (r, code, reason) in cases {
        let (got, text) = raw(a, &r).await;
        assert_eq!(
            got,
            code,
            "{}\n{text}",
            String::from_utf8_lossy(&r[..r.len().min(120)])
        );
        assert!(text.contains(&format!("\"reason\":\"{reason}\"")), "{text}");
    }
    // Under Warn (the default) a duplicate field is a warning header, and the write goes through.
    let dup = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":{"a":"1","a":"2"}}"#;
    let (code, text) = raw(a, &req("POST", cms, "application/json", dup)).await;
    assert_eq!(code, 201, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains(r#"warning: 299 - "duplicate field \"data.a\"""#),
        "{text}"
    );

    // A watch from a version this server never issued (a client that outlived a previous
    // devcluster) is expired too, so the client re-lists.
    let (code, text) = raw(
        a,
        &req(
            "GET",
            &format!("{cms}?watch=true&resourceVersion=9999999999999999"),
            "application/json",
            b"",
        ),
    )
    .await;
    assert_eq!(code, 200);
    assert!(text.contains("\"code\":410"), "{text}");

    // A watch from an old resource version is a 200 stream whose first event is a 410 ERROR.
    env.cluster.expire_watch_history();
    let (code, text) = raw(
        a,
        &req(
            "GET",
            &format!("{cms}?watch=true&resourceVersion=1"),
            "application/json",
            b"",
        ),
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        text.contains("\"type\":\"ERROR\"")
            && text.contains("\"code\":410")
            && text.contains("Expired"),
        "{text}"
    );
}

/// splitmix64: a reproducible stream of choices for the fuzzer.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_raw_requests() {
    let env = start(Config::default()).await;
    let a = env.cluster.addr();
    let methods = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "BREW",
    ];
    let paths = [
        "/api/v1/namespaces/default/configmaps",
        "/api/v1/namespaces/default/configmaps/a",
        "/api/v1/namespaces/default/configmaps/a/status",
        "/api/v1/namespaces/x%zz/configmaps",
        "/apis/apps/v1/namespaces/default/deployments/d",
        "/apis/apps/v1/namespaces/default/deployments/d/status",
        "/api/v1/namespaces/n1",
        "/api/v1/namespaces",
        "/apis",
        "/api",
        "/openapi/v3",
        "/openapi/v3/api/v1",
        "/version",
        "//",
        "/apis/../api",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/a.b",
        "/api/v1/namespaces/default/events",
        "/apis/events.k8s.io/v1/namespaces/default/events/e",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:x",
    ];
    let queries = [
        "",
        "?watch=true&timeoutSeconds=0",
        "?limit=1&continue=zz",
        "?limit=-5",
        "?fieldManager=f&force=true",
        "?dryRun=All",
        "?dryRun=bogus",
        "?labelSelector=!a,b%20notin%20(c)",
        "?resourceVersion=99999999999999999999",
        "?fieldValidation=Strict&fieldManager=f",
        "?&&&=&",
    ];
    let cts = [
        "application/json",
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
        "application/vnd.kubernetes.protobuf",
        "",
    ];
    let bodies = [
        "",
        "{}",
        "[]",
        "null",
        "\"s\"",
        "{\"metadata\":{\"name\":\"a\"}}",
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"finalizers\":[\"x\"]},\"data\":{\"k\":1}}",
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"replicas\":\"many\"}}",
        "[{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}]",
        "[{\"op\":\"test\",\"path\":\"/x\",\"value\":1}]",
        "[{\"op\":\"nope\"}]",
        "{\"metadata\":{\"finalizers\":null,\"deletionTimestamp\":\"2020-01-01T00:00:00Z\"}}",
        "{\"propagationPolicy\":\"Foreground\"}",
        "{\"propagationPolicy\":\"Sideways\"}",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: n1}\n",
        "{\"kind\":\"CustomResourceDefinition\",\"spec\":{\"group\":\"b\",\"names\":{\"plural\":\"a\",\"kind\":\"A\"},\"scope\":\"Cluster\",\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\"}}}]}}",
        "\u{0}\u{1}\u{2}",
        "{\"a\":",
        "{\"spec\":{\"$patch\":\"replace\"}}",
    ];
    // More iterations or another seed for a longer hunt:
    // DEVCLUSTER_FUZZ_ITERS=20000 DEVCLUSTER_FUZZ_SEED=7 cargo test -p devcluster --test bad_input
    let iters: usize = std::env::var("DEVCLUSTER_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let seed: u64 = std::env::var("DEVCLUSTER_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = Rng(seed);
    for i in 0..iters {
        let mut body = rng.pick(&bodies).as_bytes().to_vec();
        // A third of the bodies get a few bytes flipped (length kept, so framing stays valid).
        if rng.next().is_multiple_of(3) && !body.is_empty() {
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() % body.len() as u64) as usize;
                body[at] = (rng.next() % 256) as u8;
            }
        }
        let r = req(
            rng.pick(&methods),
            &format!("{}{}", rng.pick(&paths), rng.pick(&queries)),
            rng.pick(&cts),
            &body,
        );
        let (code, text) = raw(a, &r).await;
        assert!(
            (200..500).contains(&code),
            "request {i} answered {code}:\n{}\n{text}",
            String::from_utf8_lossy(&r)
        );
        let (c, _) = raw(
            a,
            &req("GET", "/api/v1/namespaces/default", "application/json", b""),
        )
        .await;
        assert_eq!(c, 200, "after {}", String::from_utf8_lossy(&r));
    }
    // Still healthy afterwards.
    let (code, _) = raw(
        a,
        &req("GET", "/api/v1/namespaces/default", "application/json", b""),
    )
    .await;
    assert_eq!(code, 200);
}
