//! Declared mailboxes and SFTP accounts against the development cluster: a mailbox added later
//! gets its password without any other password changing; one removed keeps its password, its
//! mail volume and nothing else of it; the CRD refuses an alias named like a mailbox, and SSH
//! keys for a site served from git.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::harness::Env;
use crate::{READY_TIMEOUT, namespace_of, ready_now, tenant_yaml, volumes};

/// The tenant `mairies` with one member whose domain declares `mailboxes`.
fn with_mailboxes(mailboxes: &str) -> String {
    let mut yaml = tenant_yaml(
        "mairies",
        "250gb",
        &[("Bonnetan", "bonnetan.example.fr")],
        "",
    );
    yaml.push_str(&format!("      mail: {{mailboxes: [{mailboxes}]}}\n"));
    yaml
}

async fn secret_data(env: &Env, namespace: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
    let api: Api<Secret> = Api::namespaced(env.client.clone(), namespace);
    let s = api.get_opt(name).await.ok()??;
    Some(
        s.data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
    )
}

/// The addresses the mail init container creates.
async fn accounts(env: &Env, namespace: &str) -> Vec<String> {
    let api: Api<Deployment> = Api::namespaced(env.client.clone(), namespace);
    let d = api.get("mail").await.unwrap();
    let pod = d.spec.unwrap().template.spec.unwrap();
    let script = pod.init_containers.unwrap()[0].command.clone().unwrap()[2].clone();
    script
        .lines()
        .filter_map(|l| l.strip_prefix("account "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailboxes_are_added_without_touching_other_passwords_and_removal_keeps_data() {
    let env = Env::start().await;
    let _op = env.operator("solo", &["--leader-election=false"]);
    env.apply_ok(&with_mailboxes("mairie")).await;
    env.wait_tenant("mairies", READY_TIMEOUT, "Ready", ready_now)
        .await;
    let ns = namespace_of(&env, "mairies").await;
    let first = secret_data(&env, &ns, "mail-accounts-bonnetan")
        .await
        .unwrap();
    assert_eq!(first.keys().collect::<Vec<_>>(), ["mairie"]);
    assert_eq!(first["mairie"].len(), 24);
    let sftp = secret_data(&env, &ns, "website-sftp").await.unwrap();
    assert_eq!(
        sftp.keys().collect::<Vec<_>>(),
        ["bonnetan.example.fr", "mairies.example.fr"]
    );
    assert_eq!(
        accounts(&env, &ns).await,
        [
            "postmaster@mairies.example.fr",
            "mairie@bonnetan.example.fr"
        ]
    );

    // A mailbox added: its key appears, the existing password stays as it was.
    env.apply_ok(&with_mailboxes("mairie, secretariat")).await;
    env.wait_tenant(
        "mairies",
        READY_TIMEOUT,
        "Ready with two mailboxes",
        ready_now,
    )
    .await;
    let second = env
        .eventually(
            Duration::from_secs(10),
            "the new mailbox's password",
            || async {
                let d = secret_data(&env, &ns, "mail-accounts-bonnetan").await?;
                d.contains_key("secretariat").then_some(d)
            },
        )
        .await;
    assert_eq!(
        second["mairie"], first["mairie"],
        "an existing password changed"
    );
    assert_eq!(secret_data(&env, &ns, "website-sftp").await.unwrap(), sftp);
    assert_eq!(
        accounts(&env, &ns).await,
        [
            "postmaster@mairies.example.fr",
            "mairie@bonnetan.example.fr",
            "secretariat@bonnetan.example.fr"
        ]
    );

    // A mailbox removed: no account any more, but its password and the mail volume stay.
    let before = volumes(&env, &ns).await;
    env.apply_ok(&with_mailboxes("secretariat")).await;
    env.wait_tenant(
        "mairies",
        READY_TIMEOUT,
        "Ready with one mailbox",
        ready_now,
    )
    .await;
    env.eventually(Duration::from_secs(10), "the account gone", || async {
        (accounts(&env, &ns).await
            == [
                "postmaster@mairies.example.fr",
                "secretariat@bonnetan.example.fr",
            ])
        .then_some(())
    })
    .await;
    assert_eq!(
        secret_data(&env, &ns, "mail-accounts-bonnetan")
            .await
            .unwrap(),
        second
    );
    assert_eq!(volumes(&env, &ns).await, before);

    // The CRD's rule: an alias cannot be named like a mailbox of its domain.
    let mut clash = with_mailboxes("mairie");
    clash.push_str("        aliases: [{name: mairie, to: [secretariat@bonnetan.example.fr]}]\n");
    let clash = clash.replace(
        "      mail: {mailboxes: [mairie]}\n        aliases:",
        "      mail:\n        mailboxes: [mairie]\n        aliases:",
    );
    let out = env.apply(&clash).await;
    assert!(!out.ok, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("an alias cannot have the name of a mailbox"),
        "{}",
        out.stderr
    );

    // And keys for the SFTP account of a site served from git, which has none.
    let mut keys = with_mailboxes("mairie");
    keys.push_str(concat!(
        "      site:\n",
        "        git: {repository: \"https://git.example.org/bonnetan/site.git\"}\n",
        "        sftpPublicKeys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB+OoYNEzXt/WW75kiAVcg7P4I2+gnT6tw4OR4xuRiJF\"]\n",
    ));
    let out = env.apply(&keys).await;
    assert!(!out.ok, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("a site served from git has no SFTP account"),
        "{}",
        out.stderr
    );
}
