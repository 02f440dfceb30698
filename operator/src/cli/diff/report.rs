//! What one tenant's diff says, line by line, and the verdict it adds up to.

use kube::ResourceExt;

use super::Outcome;
use crate::api::Tenant;

/// What one tenant would see changed, as text, and whether it is a change or a refusal.
pub struct Report {
    pub text: String,
    pub changes: usize,
    pub refused: bool,
}

impl Report {
    pub fn new(tenant: &Tenant) -> Self {
        Report {
            text: format!("Tenant {}:\n", tenant.name_any()),
            changes: 0,
            refused: false,
        }
    }

    pub fn refused(tenant: &Tenant, why: String) -> Self {
        let mut r = Report::new(tenant);
        r.refuse(why);
        r
    }

    pub fn line(&mut self, sign: &str, what: String) {
        self.text.push_str(&format!("  {sign} {what}\n"));
    }

    pub fn change(&mut self, sign: &str, what: String) {
        self.changes += 1;
        self.line(sign, what);
    }

    pub fn refuse(&mut self, why: String) {
        self.refused = true;
        self.line("!", format!("refused: {why}"));
    }

    pub fn outcome(&self) -> Outcome {
        if self.refused {
            Outcome::Refused
        } else if self.changes > 0 {
            Outcome::Changed
        } else {
            Outcome::Unchanged
        }
    }
}

pub fn describe(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}
