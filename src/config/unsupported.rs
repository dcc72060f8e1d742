//! Keys upstream accepts but promlite does not implement (most service
//! discoveries, OAuth 2.0, SigV4, OTLP, tracing ...). Each is its own type
//! whose deserialisation fails with `<key> is not supported by promlite`, so a
//! config that needs one is rejected with the key and YAML line named,
//! never silently ignored. A key whose value is empty (`null`, `[]`, `{}`)
//! is accepted: it asks for nothing.

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// `null`, `[]` and `{}` configure nothing, so they are accepted.
fn asks_for_nothing(v: serde_yaml::Value) -> bool {
    match v {
        serde_yaml::Value::Null => true,
        serde_yaml::Value::Sequence(s) => s.is_empty(),
        serde_yaml::Value::Mapping(m) => m.is_empty(),
        _ => false,
    }
}

/// The message for a key promlite does not implement.
pub fn not_supported(key: &str) -> String {
    format!("{key} is not supported by promlite")
}

macro_rules! unsupported_keys {
    ($($name:ident => $key:literal,)*) => {
        /// Every key promlite rejects as not supported.
        pub const UNSUPPORTED_KEYS: &[&str] = &[$($key,)*];
        $(
            #[doc = concat!("The `", $key, "` key: not supported by promlite.")]
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub struct $name;

            impl $name {
                pub const KEY: &'static str = $key;
            }

            impl<'de> Deserialize<'de> for $name {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    if asks_for_nothing(serde_yaml::Value::deserialize(d)?) {
                        Ok($name)
                    } else {
                        Err(de::Error::custom(not_supported($key)))
                    }
                }
            }
        )*
    };
}

unsupported_keys! {
    Oauth2 => "oauth2",
    Sigv4 => "sigv4",
    AzureAd => "azuread",
    GoogleIam => "google_iam",
    Otlp => "otlp",
    Tracing => "tracing",
    AwsSd => "aws_sd_configs",
    AzureSd => "azure_sd_configs",
    ConsulSd => "consul_sd_configs",
    DigitalOceanSd => "digitalocean_sd_configs",
    DockerSd => "docker_sd_configs",
    DockerSwarmSd => "dockerswarm_sd_configs",
    DnsSd => "dns_sd_configs",
    Ec2Sd => "ec2_sd_configs",
    EcsSd => "ecs_sd_configs",
    ElasticacheSd => "elasticache_sd_configs",
    MskSd => "msk_sd_configs",
    RdsSd => "rds_sd_configs",
    EurekaSd => "eureka_sd_configs",
    GceSd => "gce_sd_configs",
    HetznerSd => "hetzner_sd_configs",
    IonosSd => "ionos_sd_configs",
    KubernetesSd => "kubernetes_sd_configs",
    KumaSd => "kuma_sd_configs",
    LightsailSd => "lightsail_sd_configs",
    LinodeSd => "linode_sd_configs",
    MarathonSd => "marathon_sd_configs",
    NerveSd => "nerve_sd_configs",
    NomadSd => "nomad_sd_configs",
    OciSd => "oci_sd_configs",
    OpenstackSd => "openstack_sd_configs",
    OutscaleSd => "outscale_sd_configs",
    OvhcloudSd => "ovhcloud_sd_configs",
    PuppetdbSd => "puppetdb_sd_configs",
    ScalewaySd => "scaleway_sd_configs",
    ServersetSd => "serverset_sd_configs",
    StackitSd => "stackit_sd_configs",
    TritonSd => "triton_sd_configs",
    UyuniSd => "uyuni_sd_configs",
    VultrSd => "vultr_sd_configs",
}

/// Whether `key` is one promlite rejects as not supported.
pub fn is_unsupported_key(key: &str) -> bool {
    UNSUPPORTED_KEYS.contains(&key)
}

/// Declares a raw (input) struct with the given fields plus every service
/// discovery key promlite does not implement. Those fields are never read:
/// deserialising one is the error.
macro_rules! unsupported_sd_raw_struct {
    ($(#[$m:meta])* struct $name:ident { $($body:tt)* }) => {
        $crate::config::http::http_client_raw_struct! {
            $(#[$m])*
            struct $name {
                $($body)*
                #[allow(dead_code)] #[serde(default)] aws_sd_configs: Option<$crate::config::unsupported::AwsSd>,
                #[allow(dead_code)] #[serde(default)] azure_sd_configs: Option<$crate::config::unsupported::AzureSd>,
                #[allow(dead_code)] #[serde(default)] consul_sd_configs: Option<$crate::config::unsupported::ConsulSd>,
                #[allow(dead_code)] #[serde(default)] digitalocean_sd_configs: Option<$crate::config::unsupported::DigitalOceanSd>,
                #[allow(dead_code)] #[serde(default)] docker_sd_configs: Option<$crate::config::unsupported::DockerSd>,
                #[allow(dead_code)] #[serde(default)] dockerswarm_sd_configs: Option<$crate::config::unsupported::DockerSwarmSd>,
                #[allow(dead_code)] #[serde(default)] dns_sd_configs: Option<$crate::config::unsupported::DnsSd>,
                #[allow(dead_code)] #[serde(default)] ec2_sd_configs: Option<$crate::config::unsupported::Ec2Sd>,
                #[allow(dead_code)] #[serde(default)] ecs_sd_configs: Option<$crate::config::unsupported::EcsSd>,
                #[allow(dead_code)] #[serde(default)] elasticache_sd_configs: Option<$crate::config::unsupported::ElasticacheSd>,
                #[allow(dead_code)] #[serde(default)] msk_sd_configs: Option<$crate::config::unsupported::MskSd>,
                #[allow(dead_code)] #[serde(default)] rds_sd_configs: Option<$crate::config::unsupported::RdsSd>,
                #[allow(dead_code)] #[serde(default)] eureka_sd_configs: Option<$crate::config::unsupported::EurekaSd>,
                #[allow(dead_code)] #[serde(default)] gce_sd_configs: Option<$crate::config::unsupported::GceSd>,
                #[allow(dead_code)] #[serde(default)] hetzner_sd_configs: Option<$crate::config::unsupported::HetznerSd>,
                #[allow(dead_code)] #[serde(default)] ionos_sd_configs: Option<$crate::config::unsupported::IonosSd>,
                #[allow(dead_code)] #[serde(default)] kubernetes_sd_configs: Option<$crate::config::unsupported::KubernetesSd>,
                #[allow(dead_code)] #[serde(default)] kuma_sd_configs: Option<$crate::config::unsupported::KumaSd>,
                #[allow(dead_code)] #[serde(default)] lightsail_sd_configs: Option<$crate::config::unsupported::LightsailSd>,
                #[allow(dead_code)] #[serde(default)] linode_sd_configs: Option<$crate::config::unsupported::LinodeSd>,
                #[allow(dead_code)] #[serde(default)] marathon_sd_configs: Option<$crate::config::unsupported::MarathonSd>,
                #[allow(dead_code)] #[serde(default)] nerve_sd_configs: Option<$crate::config::unsupported::NerveSd>,
                #[allow(dead_code)] #[serde(default)] nomad_sd_configs: Option<$crate::config::unsupported::NomadSd>,
                #[allow(dead_code)] #[serde(default)] oci_sd_configs: Option<$crate::config::unsupported::OciSd>,
                #[allow(dead_code)] #[serde(default)] openstack_sd_configs: Option<$crate::config::unsupported::OpenstackSd>,
                #[allow(dead_code)] #[serde(default)] outscale_sd_configs: Option<$crate::config::unsupported::OutscaleSd>,
                #[allow(dead_code)] #[serde(default)] ovhcloud_sd_configs: Option<$crate::config::unsupported::OvhcloudSd>,
                #[allow(dead_code)] #[serde(default)] puppetdb_sd_configs: Option<$crate::config::unsupported::PuppetdbSd>,
                #[allow(dead_code)] #[serde(default)] scaleway_sd_configs: Option<$crate::config::unsupported::ScalewaySd>,
                #[allow(dead_code)] #[serde(default)] serverset_sd_configs: Option<$crate::config::unsupported::ServersetSd>,
                #[allow(dead_code)] #[serde(default)] stackit_sd_configs: Option<$crate::config::unsupported::StackitSd>,
                #[allow(dead_code)] #[serde(default)] triton_sd_configs: Option<$crate::config::unsupported::TritonSd>,
                #[allow(dead_code)] #[serde(default)] uyuni_sd_configs: Option<$crate::config::unsupported::UyuniSd>,
                #[allow(dead_code)] #[serde(default)] vultr_sd_configs: Option<$crate::config::unsupported::VultrSd>,
            }
        }
    };
}
pub(crate) use unsupported_sd_raw_struct;
