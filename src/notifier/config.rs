//! From `alerting:` in prometheus.yml to what the notifier needs: the
//! Alertmanager URLs of each `alertmanagers` block (targets relabeled with
//! `__scheme__`, `__address__`, `__alerts_path__` as upstream does), their
//! client settings, and the `alert_relabel_configs` function.

use std::time::Duration;

use crate::config::{AlertingConfig, AlertmanagerConfig};
use crate::model::relabel::{process, RelabelConfig};
use crate::model::{Labels, LabelsBuilder};

use super::{AlertRelabel, AlertmanagerSet, Auth, NotifierError};

const ADDRESS_LABEL: &str = "__address__";
const SCHEME_LABEL: &str = "__scheme__";
const PATH_LABEL: &str = "__alerts_path__";

/// Upstream's `postPath`: `path.Join("/", prefix, "/api/v2/alerts")`.
fn alerts_path(prefix: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        "/api/v2/alerts".to_string()
    } else {
        format!("/{p}/api/v2/alerts")
    }
}

/// The alerts URLs of discovered `targets` (each with `__address__` and its
/// group's labels) for one `alertmanagers` block, after its relabeling.
/// Targets dropped by relabeling or left with an address containing `/`
/// are skipped, as upstream rejects them.
pub fn alertmanager_urls(cfg: &AlertmanagerConfig, targets: &[Labels]) -> Vec<String> {
    resolve_targets(cfg, targets).0
}

/// `(active, dropped)` alerts URLs of `targets`: the dropped ones are those
/// the block's `relabel_configs` dropped, shown with their labels before
/// relabeling as upstream's `droppedAlertmanagers` are.
pub fn resolve_targets(cfg: &AlertmanagerConfig, targets: &[Labels]) -> (Vec<String>, Vec<String>) {
    let url = |l: &Labels| {
        format!(
            "{}://{}{}",
            l.get_or_empty(SCHEME_LABEL),
            l.get_or_empty(ADDRESS_LABEL),
            l.get_or_empty(PATH_LABEL)
        )
    };
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    for t in targets {
        let mut b: LabelsBuilder = t.builder();
        b.set(SCHEME_LABEL, &cfg.scheme);
        b.set(PATH_LABEL, &alerts_path(&cfg.path_prefix));
        let lset = b.build();
        let Some(l) = process(&lset, &cfg.relabel_configs) else {
            dropped.push(url(&lset));
            continue;
        };
        let addr = l.get_or_empty(ADDRESS_LABEL);
        if addr.is_empty() || addr.contains('/') {
            log::warn!("Skipping Alertmanager with invalid address {addr:?}");
            continue;
        }
        active.push(url(&l));
    }
    (active, dropped)
}

/// Targets of the block's `static_configs`, as discovery would send them.
pub fn static_targets(cfg: &AlertmanagerConfig) -> Vec<Labels> {
    let mut out = Vec::new();
    for sc in &cfg.static_configs {
        for t in &sc.targets {
            let mut b = LabelsBuilder::new();
            for (k, v) in &sc.labels {
                b.set(k, v);
            }
            b.set(ADDRESS_LABEL, t);
            out.push(b.build());
        }
    }
    out
}

fn read_secret_file(path: &str) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) => s.trim().to_string(),
        Err(e) => {
            log::error!("Cannot read secret file {path} for Alertmanager: {e}");
            String::new()
        }
    }
}

/// Client settings of one block.
fn client_settings(cfg: &AlertmanagerConfig, targets: &[Labels]) -> AlertmanagerSet {
    let (urls, dropped_urls) = resolve_targets(cfg, targets);
    let h = &cfg.http_client_config;
    let auth = if let Some(b) = &h.basic_auth {
        let username = if b.username_file.is_empty() {
            b.username.clone()
        } else {
            read_secret_file(&b.username_file)
        };
        let password = if b.password_file.is_empty() {
            b.password.expose().to_string()
        } else {
            read_secret_file(&b.password_file)
        };
        Auth::Basic { username, password }
    } else if let Some(a) = &h.authorization {
        let credentials = if a.credentials_file.is_empty() {
            a.credentials.expose().to_string()
        } else {
            read_secret_file(&a.credentials_file)
        };
        let kind = if a.kind.is_empty() {
            "Bearer".to_string()
        } else {
            a.kind.clone()
        };
        Auth::Authorization { kind, credentials }
    } else {
        Auth::None
    };
    let ms = cfg.timeout.as_millis().max(1) as u64;
    let headers = crate::config::http::header_pairs(&h.http_headers, |f| {
        Ok::<_, std::convert::Infallible>(read_secret_file(f))
    })
    .unwrap_or_else(|never| match never {});
    AlertmanagerSet {
        urls,
        dropped_urls,
        timeout: Duration::from_millis(ms),
        auth,
        alert_relabel: cfg.alert_relabel_configs.clone(),
        insecure_skip_verify: h.tls_config.insecure_skip_verify,
        headers,
    }
}

/// One `AlertmanagerSet` per `alertmanagers` block, from static configs only
/// (file SD targets come through `set_for_targets` once discovered).
pub fn static_alertmanager_sets(cfg: &AlertingConfig) -> Vec<AlertmanagerSet> {
    cfg.alertmanagers
        .iter()
        .map(|am| client_settings(am, &static_targets(am)))
        .collect()
}

/// The set of one block for targets found by service discovery.
pub fn set_for_targets(cfg: &AlertmanagerConfig, targets: &[Labels]) -> AlertmanagerSet {
    client_settings(cfg, targets)
}

/// Refuses client settings of an `alertmanagers` block that promlite's
/// notifier does not implement, instead of silently sending without them.
pub fn check_client_settings(cfg: &AlertmanagerConfig) -> Result<(), NotifierError> {
    let h = &cfg.http_client_config;
    let unsupported = |what: &str| {
        Err(NotifierError::Config(format!(
            "alertmanagers: {what} is not supported by promlite"
        )))
    };
    if h.proxy_url.is_some() || h.proxy_from_environment {
        return unsupported("proxy_url/proxy_from_environment");
    }
    let tls = &h.tls_config;
    if !(tls.ca.is_empty()
        && tls.ca_file.is_empty()
        && tls.cert.is_empty()
        && tls.cert_file.is_empty()
        && tls.key.is_empty()
        && tls.key_file.is_empty())
    {
        return unsupported("tls_config with ca, cert or key");
    }
    Ok(())
}

/// The notifier's reloader: external labels, alert relabeling and the
/// statically configured Alertmanagers of `cfg`. A block asking for what
/// promlite cannot do fails the reload and nothing changes.
pub fn apply_config(
    n: &super::NotifierManager,
    cfg: &crate::config::Config,
) -> Result<(), NotifierError> {
    for am in &cfg.alerting.alertmanagers {
        check_client_settings(am)?;
    }
    n.apply_config(
        cfg.global.external_labels(),
        alert_relabel(&cfg.alerting.alert_relabel_configs),
    );
    n.set_alertmanagers(static_alertmanager_sets(&cfg.alerting));
    Ok(())
}

/// `alert_relabel_configs` as the notifier's relabel function.
pub fn alert_relabel(cfgs: &[RelabelConfig]) -> Option<Box<AlertRelabel>> {
    if cfgs.is_empty() {
        return None;
    }
    let cfgs = cfgs.to_vec();
    Some(Box::new(move |l: &Labels| process(l, &cfgs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_alertmanagers_from_yaml() {
        let yaml = r#"
alerting:
  alert_relabel_configs:
    - source_labels: [severity]
      regex: debug
      action: drop
  alertmanagers:
    - scheme: http
      path_prefix: /am/
      timeout: 3s
      basic_auth: {username: u, password: p}
      static_configs:
        - targets: ["a:9093", "b:9093"]
      relabel_configs:
        - source_labels: [__address__]
          regex: "b:.*"
          action: drop
      alert_relabel_configs:
        - target_label: am
          replacement: a
"#;
        let cfg = crate::config::load_str(yaml, std::path::Path::new(".")).expect("valid config");
        let sets = static_alertmanager_sets(&cfg.alerting);
        assert_eq!(sets.len(), 1);
        assert_eq!(
            sets[0].urls,
            vec!["http://a:9093/am/api/v2/alerts".to_string()]
        );
        assert_eq!(
            sets[0].dropped_urls,
            vec!["http://b:9093/am/api/v2/alerts".to_string()]
        );
        assert_eq!(sets[0].alert_relabel.len(), 1);
        assert_eq!(sets[0].timeout, Duration::from_secs(3));
        assert_eq!(
            sets[0].auth,
            Auth::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
        assert!(check_client_settings(&cfg.alerting.alertmanagers[0]).is_ok());
        let relabel = alert_relabel(&cfg.alerting.alert_relabel_configs).expect("relabel set");
        assert!(relabel(&Labels::from_pairs(&[("severity", "debug")])).is_none());
        assert!(relabel(&Labels::from_pairs(&[("severity", "page")])).is_some());
    }
}

#[cfg(test)]
mod client_tests {
    use super::*;

    fn block(extra: &str) -> AlertmanagerConfig {
        let yaml = format!(
            "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['a:9093']\n{extra}"
        );
        let cfg = crate::config::load_str(&yaml, std::path::Path::new("/")).expect("valid config");
        cfg.alerting.alertmanagers[0].clone()
    }

    #[test]
    fn unsupported_client_settings_are_refused() {
        let e = check_client_settings(&block("      tls_config:\n        ca_file: /x/ca.pem\n"));
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err(
                "alertmanagers: tls_config with ca, cert or key is not supported by promlite"
                    .into()
            )
        );
        let e = check_client_settings(&block("      proxy_url: http://proxy:3128\n"));
        assert!(e.is_err());
    }

    #[test]
    fn headers_and_skip_verify_reach_the_set() {
        let am = block(
            "      scheme: https\n      tls_config:\n        insecure_skip_verify: true\n      http_headers:\n        X-Scope-OrgID:\n          values: [team-a]\n",
        );
        assert!(check_client_settings(&am).is_ok());
        let set = set_for_targets(&am, &static_targets(&am));
        assert!(set.insecure_skip_verify);
        assert_eq!(
            set.headers,
            vec![("X-Scope-OrgID".to_string(), "team-a".to_string())]
        );
        assert_eq!(set.urls, vec!["https://a:9093/api/v2/alerts".to_string()]);
    }
}
