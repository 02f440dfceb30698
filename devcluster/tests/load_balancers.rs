//! Load-balancer addresses through the real kubectl: one per LoadBalancer Service from the
//! configured pool, kept, freed on deletion; Ingresses share the ingress address.

mod common;

use common::{Env, start};
use devcluster::Config;

async fn jsonpath(env: &Env, args: &[&str], path: &str) -> String {
    let p = format!("jsonpath={path}");
    let mut a = args.to_vec();
    a.extend(["-o", &p]);
    env.ok(&a).await
}

fn svc(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 443}}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_load_balancer_gets_its_own_address() {
    let env = start(Config {
        load_balancer_pool: "192.0.2.0/30".parse().unwrap(),
        ..Config::default()
    })
    .await;
    let ip_of = async |name: &str| {
        jsonpath(
            &env,
            &["get", "svc", name],
            "{.status.loadBalancer.ingress[0].ip}",
        )
        .await
    };
    env.apply(&svc("a")).await;
    env.apply(&svc("b")).await;
    let (a, b) = (ip_of("a").await, ip_of("b").await);
    assert_eq!((a.as_str(), b.as_str()), ("192.0.2.1", "192.0.2.2"));
    // Re-applying keeps the address.
    env.apply(&svc("a")).await;
    assert_eq!(ip_of("a").await, a);
    // The pool of two is used up: the third waits, as on a cloud without capacity.
    env.apply(&svc("c")).await;
    assert_eq!(ip_of("c").await, "");
    // Once one goes, the waiting one gets its address; live ones never collide.
    env.ok(&["delete", "svc", "a"]).await;
    assert_eq!(ip_of("c").await, "192.0.2.1");
    assert_eq!(ip_of("b").await, b);

    let ing = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  defaultBackend: {service: {name: b, port: {number: 443}}}\n";
    env.apply(ing).await;
    let ip = jsonpath(
        &env,
        &["get", "ingress", "web"],
        "{.status.loadBalancer.ingress[0].ip}",
    )
    .await;
    assert_eq!(ip, "203.0.113.10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_pool_and_external_ip_column() {
    let env = start(Config::default()).await;
    env.apply(&svc("a")).await;
    env.apply(&svc("b")).await;
    let out = env.ok(&["get", "svc", "a", "b"]).await;
    let ips: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert_eq!(ips, ["198.51.100.1", "198.51.100.2"], "{out}");
    // Asking for a free address in the pool gets it.
    let wanted = "apiVersion: v1\nkind: Service\nmetadata: {name: c}\nspec:\n  type: LoadBalancer\n  loadBalancerIP: 198.51.100.77\n  ports: [{port: 443}]\n";
    env.apply(wanted).await;
    let ip = jsonpath(
        &env,
        &["get", "svc", "c"],
        "{.status.loadBalancer.ingress[0].ip}",
    )
    .await;
    assert_eq!(ip, "198.51.100.77");
    // A Service that stops being a LoadBalancer gives its address back.
    env.ok(&[
        "patch",
        "svc",
        "a",
        "--type=merge",
        "-p",
        r#"{"spec":{"type":"ClusterIP"}}"#,
    ])
    .await;
    let out = env.ok(&["get", "svc", "a"]).await;
    assert!(
        out.lines().nth(1).is_some_and(|l| l.contains("<none>")),
        "{out}"
    );
    env.apply(&svc("d")).await;
    let ip = jsonpath(
        &env,
        &["get", "svc", "d"],
        "{.status.loadBalancer.ingress[0].ip}",
    )
    .await;
    assert_eq!(ip, "198.51.100.1");
}
