//! Declared mailboxes and aliases: validated per domain, an account and a Secret key per
//! mailbox, the aliases in Postfix's table, and the admins' Role reading the new Secrets.

use serde_json::json;

use super::*;

/// The fixture tenant with mailboxes on its own domain and on the member `tresses`.
const MAIL: &str = r#"
apiVersion: mutualis.io/v1alpha1
kind: Tenant
metadata: {name: villages}
spec:
  catalogRef: test
  tier: small
  displayName: Les Villages
  domain: villages.fr
  admins: [{kind: User, name: alice}]
  mail:
    mailboxes: [accueil, direction]
    aliases: [{name: contact, to: [accueil, mairie@tresses.fr, elu@example.org]}]
  members:
  - {displayName: Sallebœuf, domain: sallebœuf.fr}
  - name: tresses
    displayName: Tresses
    domain: tresses.fr
    mail:
      mailboxes: [mairie, ecole.primaire]
      aliases: [{name: urbanisme, to: [mairie, accueil@villages.fr]}]
"#;

fn refusal(from: &str, to: &str) -> String {
    let yaml = MAIL.replacen(from, to, 1);
    assert_ne!(yaml, MAIL, "the fixture has no {from:?}");
    validate(&tenant(&yaml), &catalog())
        .expect_err(&format!("{to:?} was accepted"))
        .to_string()
}

#[test]
fn each_domain_with_mailboxes_gets_a_secret_keyed_by_local_part() {
    let p = plan_of(MAIL, &PlanInputs::default());
    let keys = |name: &str| -> Vec<String> {
        p.secrets
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no Secret {name}"))
            .keys
            .iter()
            .map(|(k, kind)| {
                assert_eq!(*kind, SecretKind::Password { length: 24 }, "{name}/{k}");
                k.clone()
            })
            .collect()
    };
    assert_eq!(keys("mail-accounts-villages"), ["accueil", "direction"]);
    assert_eq!(keys("mail-accounts-tresses"), ["mairie", "ecole.primaire"]);
    // Sallebœuf declares none: no empty Secret.
    assert!(
        !p.secrets
            .iter()
            .any(|s| s.name == "mail-accounts-salleboeuf")
    );
    // The admins read exactly the generated Secrets, by name, these two among them.
    let role = find(&p, "Role", "tenant-admin").to_json();
    let rule = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resources"] == json!(["secrets"]))
        .unwrap();
    assert_eq!(rule["verbs"], json!(["get"]));
    let names: Vec<&str> = rule["resourceNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let generated: Vec<&str> = p.secrets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, generated);
    assert!(names.contains(&"mail-accounts-villages") && names.contains(&"mail-accounts-tresses"));
}

#[test]
fn the_init_container_creates_every_declared_account_from_its_secret_key() {
    let p = plan_of(MAIL, &PlanInputs::default());
    let d = find(&p, "Deployment", "mail").to_json();
    let pod = &d["spec"]["template"]["spec"];
    let script = pod["initContainers"][0]["command"][2].as_str().unwrap();
    let accounts: Vec<&str> = script
        .lines()
        .filter_map(|l| l.strip_prefix("account "))
        .collect();
    assert_eq!(
        accounts,
        [
            "postmaster@villages.fr /etc/mutualis/accounts/villages.fr/postmaster",
            "accueil@villages.fr /etc/mutualis/accounts/villages.fr/accueil",
            "direction@villages.fr /etc/mutualis/accounts/villages.fr/direction",
            "mairie@tresses.fr /etc/mutualis/accounts/tresses.fr/mairie",
            "ecole.primaire@tresses.fr /etc/mutualis/accounts/tresses.fr/ecole.primaire",
        ]
    );
    // Each file is one key of one Secret, projected read-only for root alone.
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "accounts")
        .unwrap();
    assert_eq!(volume["projected"]["defaultMode"], 0o400);
    let files: Vec<(String, String, String)> = volume["projected"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let item = &s["secret"]["items"][0];
            (
                s["secret"]["name"].as_str().unwrap().to_owned(),
                item["key"].as_str().unwrap().to_owned(),
                item["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        files[0],
        (
            "mail-postmaster".into(),
            "password".into(),
            "villages.fr/postmaster".into()
        )
    );
    assert_eq!(
        files[4],
        (
            "mail-accounts-tresses".into(),
            "ecole.primaire".into(),
            "tresses.fr/ecole.primaire".into()
        )
    );
    // No password in the pod's environment or command.
    assert!(!d.to_string().contains("PLAIN"));
}

#[test]
fn aliases_are_full_ascii_addresses_in_postfix_virtual() {
    let p = plan_of(MAIL, &PlanInputs::default());
    let cm = find(&p, "ConfigMap", "mail-config").to_json();
    let virtual_ = cm["data"]["postfix-virtual.cf"].as_str().unwrap();
    assert!(
        virtual_.contains(
            "\ncontact@villages.fr accueil@villages.fr,mairie@tresses.fr,elu@example.org\n"
        ),
        "{virtual_}"
    );
    assert!(
        virtual_.contains("\nurbanisme@tresses.fr mairie@tresses.fr,accueil@villages.fr\n"),
        "{virtual_}"
    );
}

#[test]
fn a_bad_mailbox_or_alias_is_refused_naming_field_value_and_rule() {
    let e = refusal("[accueil, direction]", "[accueil, Direction]");
    assert!(
        e.contains("spec.mail.mailboxes[1]")
            && e.contains("Direction")
            && e.contains("should match"),
        "{e}"
    );
    let e = refusal("[accueil, direction]", "[accueil, accueil]");
    assert!(
        e.contains("spec.mail.mailboxes[1]") && e.contains("Duplicate value: \"accueil\""),
        "{e}"
    );
    let e = refusal("[mairie, ecole.primaire]", "[mairie, abuse]");
    assert!(
        e.contains("spec.members[1].mail.mailboxes[1]") && e.contains("reserved"),
        "{e}"
    );
    let e = refusal("[mairie, ecole.primaire]", "[mairie, ecole..primaire]");
    assert!(e.contains("ecole..primaire"), "{e}");
    let long = "a".repeat(65);
    let e = refusal("[accueil, direction]", &format!("[accueil, {long}]"));
    assert!(
        e.contains("spec.mail.mailboxes[1]") && e.contains("64"),
        "{e}"
    );
    // An alias named like a mailbox of its domain.
    let e = refusal("{name: contact,", "{name: accueil,");
    assert!(
        // The CRD's CEL rule says it first, as the API would.
        e.contains("spec.mail.aliases")
            && e.contains("cannot have the name of a mailbox of the same domain"),
        "{e}"
    );
    // A target among the tenant's own addresses that nothing receives.
    let e = refusal(
        "to: [mairie, accueil@villages.fr]",
        "to: [mairie, acueil@villages.fr]",
    );
    assert!(
        e.contains("spec.members[1].mail.aliases[0].to[1]")
            && e.contains("names no mailbox or alias of villages.fr"),
        "{e}"
    );
    let e = refusal("to: [mairie, accueil@villages.fr]", "to: [mairie, inconnu]");
    assert!(e.contains("names no mailbox or alias of tresses.fr"), "{e}");
    let e = refusal("to: [mairie, accueil@villages.fr]", "to: [urbanisme]");
    assert!(e.contains("the alias itself"), "{e}");
    let e = refusal(
        "to: [mairie, accueil@villages.fr]",
        "to: [mairie, mairie@tresses.fr]",
    );
    assert!(e.contains("listed twice"), "{e}");
    let e = refusal("elu@example.org", "elu@exa mple.org");
    assert!(e.contains("spec.mail.aliases[0].to[2]"), "{e}");
}

#[test]
fn a_unicode_domain_in_a_target_is_written_in_its_ascii_form() {
    let yaml = MAIL
        .replace(
            "  - {displayName: Sallebœuf, domain: sallebœuf.fr}\n",
            "  - {displayName: Sallebœuf, domain: sallebœuf.fr, mail: {mailboxes: [mairie]}}\n",
        )
        .replace("elu@example.org", "mairie@sallebœuf.fr");
    let p = plan_of(&yaml, &PlanInputs::default());
    let cm = find(&p, "ConfigMap", "mail-config").to_json();
    let virtual_ = cm["data"]["postfix-virtual.cf"].as_str().unwrap();
    let ascii = crate::plan::hosts::ascii("sallebœuf.fr");
    assert!(
        virtual_.contains(&format!("mairie@tresses.fr,mairie@{ascii}\n")),
        "{virtual_}"
    );
}
