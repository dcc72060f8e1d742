//! Building remote storage settings from the parsed `prometheus.yml`
//! (`config::RemoteWriteConfig`, `config::RemoteReadConfig`). The config layer
//! has already validated the YAML; here the parts promlite's remote clients
//! do not implement are refused with "... is not supported by promlite"
//! rather than silently ignored: remote write 2.0, custom TLS settings,
//! proxies, and file-sourced `http_headers`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::settings::{
    Authorization, BasicAuth, HttpClientSettings, QueueSettings, RemoteConfig, RemoteReadSettings,
    RemoteWriteSettings, Secret, WriteRelabel,
};
use super::RemoteError;
use crate::config::http::HttpClientConfig;
use crate::config::remote::{QueueConfig, RemoteReadConfig, RemoteWriteConfig};
use crate::config::Config;
use crate::model::relabel;

impl RemoteConfig {
    /// The remote storage part of a whole configuration.
    pub fn from_config(cfg: &Config) -> Result<RemoteConfig, RemoteError> {
        Ok(RemoteConfig {
            external_labels: cfg.global.external_labels(),
            remote_write: cfg
                .remote_write
                .iter()
                .map(RemoteWriteSettings::from_config)
                .collect::<Result<_, _>>()?,
            remote_read: cfg
                .remote_read
                .iter()
                .map(RemoteReadSettings::from_config)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl RemoteWriteSettings {
    /// Settings for one `remote_write` entry.
    pub fn from_config(c: &RemoteWriteConfig) -> Result<RemoteWriteSettings, RemoteError> {
        let url = c.url.as_str();
        if c.protobuf_message != "prometheus.WriteRequest" {
            return Err(RemoteError::Unsupported(format!(
                "remote_write {url}: protobuf_message {} (remote write 2.0)",
                c.protobuf_message
            )));
        }
        let rules = c.write_relabel_configs.clone();
        let write_relabel = if rules.is_empty() {
            WriteRelabel::default()
        } else {
            WriteRelabel {
                rules_id: format!("{rules:?}"),
                apply: Some(Arc::new(move |l| relabel::process(l, &rules))),
            }
        };
        Ok(RemoteWriteSettings {
            url: url.to_string(),
            name: c.name.clone(),
            http: http_settings(
                url,
                &c.http_client_config,
                &c.headers,
                c.remote_timeout.to_std(),
            )?,
            queue: queue_settings(&c.queue_config),
            write_relabel,
            send_exemplars: c.send_exemplars,
            metadata_send: c.metadata_config.send,
            metadata_send_interval: c.metadata_config.send_interval.to_std(),
            metadata_max_samples_per_send: usize::try_from(c.metadata_config.max_samples_per_send)
                .unwrap_or(1)
                .max(1),
        })
    }
}

impl RemoteReadSettings {
    /// Settings for one `remote_read` entry.
    pub fn from_config(c: &RemoteReadConfig) -> Result<RemoteReadSettings, RemoteError> {
        let url = c.url.as_str();
        Ok(RemoteReadSettings {
            url: url.to_string(),
            name: c.name.clone(),
            http: http_settings(
                url,
                &c.http_client_config,
                &c.headers,
                c.remote_timeout.to_std(),
            )?,
            required_matchers: c.required_matchers.clone(),
            read_recent: c.read_recent,
            filter_external_labels: c.filter_external_labels,
        })
    }
}

fn queue_settings(q: &QueueConfig) -> QueueSettings {
    // The config layer guarantees positive counts; clamp anyway so a
    // hand-built config cannot make a zero-capacity channel.
    let count = |v: i64| usize::try_from(v).unwrap_or(1).max(1);
    QueueSettings {
        capacity: count(q.capacity),
        max_shards: count(q.max_shards),
        min_shards: count(q.min_shards),
        max_samples_per_send: count(q.max_samples_per_send),
        batch_send_deadline: q.batch_send_deadline.to_std(),
        min_backoff: q.min_backoff.to_std(),
        max_backoff: q.max_backoff.to_std(),
        retry_on_http_429: q.retry_on_http_429,
        sample_age_limit: q.sample_age_limit.to_std(),
    }
}

fn http_settings(
    url: &str,
    h: &HttpClientConfig,
    headers: &BTreeMap<String, String>,
    timeout: std::time::Duration,
) -> Result<HttpClientSettings, RemoteError> {
    let unsupported =
        |what: &str| RemoteError::Unsupported(format!("{what} (remote endpoint {url})"));
    if h.tls_config != Default::default() {
        return Err(unsupported("tls_config"));
    }
    if h.proxy_url.is_some() || h.proxy_from_environment || !h.proxy_connect_header.is_empty() {
        return Err(unsupported("proxy settings"));
    }
    let mut all_headers = headers.clone();
    for (name, header) in &h.http_headers {
        if !header.files.is_empty() {
            return Err(unsupported("http_headers from files"));
        }
        let values: Vec<&str> = header
            .values
            .iter()
            .map(String::as_str)
            .chain(header.secrets.iter().map(|s| s.expose()))
            .collect();
        if !values.is_empty() {
            all_headers.insert(name.clone(), values.join(", "));
        }
    }
    let basic_auth = match &h.basic_auth {
        None => None,
        Some(b) => {
            let username = if b.username_file.is_empty() {
                b.username.clone()
            } else {
                Secret::File(b.username_file.clone().into())
                    .value()
                    .map_err(|e| RemoteError::Config(format!("basic_auth username_file: {e}")))?
            };
            let password = if !b.password_file.is_empty() {
                Some(Secret::File(b.password_file.clone().into()))
            } else if !b.password.is_empty() {
                Some(Secret::Inline(b.password.expose().to_string()))
            } else {
                None
            };
            Some(BasicAuth { username, password })
        }
    };
    let authorization = h.authorization.as_ref().map(|a| Authorization {
        kind: if a.kind.is_empty() {
            "Bearer".to_string()
        } else {
            a.kind.clone()
        },
        credentials: if !a.credentials_file.is_empty() {
            Some(Secret::File(a.credentials_file.clone().into()))
        } else if !a.credentials.is_empty() {
            Some(Secret::Inline(a.credentials.expose().to_string()))
        } else {
            None
        },
    });
    Ok(HttpClientSettings {
        basic_auth,
        authorization,
        headers: all_headers,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;

    fn parse(yaml: &str) -> Config {
        crate::config::load_str(yaml, std::path::Path::new(".")).expect("valid config")
    }

    #[test]
    fn maps_entries_with_defaults_auth_and_relabeling() {
        let cfg = parse(
            r#"
global:
  external_labels: {dc: eu}
remote_write:
  - url: http://127.0.0.1:9/api/v1/write
    name: mimir
    remote_timeout: 5s
    headers: {X-Scope-OrgID: t1}
    authorization: {credentials: tok}
    queue_config: {max_shards: 4, retry_on_http_429: true}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: drop_me
        action: drop
remote_read:
  - url: http://127.0.0.1:9/api/v1/read
    read_recent: true
    required_matchers: {job: x}
"#,
        );
        let rc = RemoteConfig::from_config(&cfg).unwrap();
        assert_eq!(rc.external_labels.get("dc"), Some("eu"));
        let w = &rc.remote_write[0];
        assert_eq!(w.name, "mimir");
        assert_eq!(w.http.timeout, std::time::Duration::from_secs(5));
        assert_eq!(
            w.http.headers.get("X-Scope-OrgID").map(String::as_str),
            Some("t1")
        );
        let auth = w.http.authorization.as_ref().unwrap();
        assert_eq!(auth.kind, "Bearer");
        assert_eq!(auth.credentials.as_ref().unwrap().value().unwrap(), "tok");
        assert_eq!(w.queue.max_shards, 4);
        assert_eq!(w.queue.min_shards, 1);
        assert_eq!(w.queue.capacity, 10_000);
        assert!(w.queue.retry_on_http_429);
        let drop = Labels::from_pairs(&[("__name__", "drop_me")]);
        let keep = Labels::from_pairs(&[("__name__", "keep_me")]);
        assert_eq!(w.write_relabel.process(drop), None);
        assert!(w.write_relabel.process(keep).is_some());
        let r = &rc.remote_read[0];
        assert!(r.read_recent && r.filter_external_labels);
        assert_eq!(
            r.required_matchers.get("job").map(String::as_str),
            Some("x")
        );
        assert_eq!(r.http.timeout, std::time::Duration::from_secs(60));
        // Same YAML, same settings: a reload keeps the queue.
        assert_eq!(RemoteConfig::from_config(&cfg).unwrap(), rc);
    }

    #[test]
    fn remote_write_2_is_not_supported() {
        let cfg = parse(
            "remote_write:\n  - url: http://127.0.0.1:9/w\n    protobuf_message: io.prometheus.write.v2.Request\n",
        );
        let err = RemoteConfig::from_config(&cfg).unwrap_err().to_string();
        assert!(err.contains("is not supported by promlite"), "{err}");
    }
}
