//! Configuration: defaults, then a TOML file (`--config`), then `BIOGUARD_*` environment
//! variables, then command-line flags, each overriding the one before.
//!
//! Parsing happens in two stages: every source yields raw text per key ([`RawConfig`]), then
//! one validation turns the merged text into a typed [`Config`]. An invalid value stops the
//! start with a message that names the key, where it came from and what is allowed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// One setting: its key in the file, how to check it, and what it allows.
struct Key {
    name: &'static str,
    allowed: &'static str,
}

const KEYS: &[Key] = &[
    Key {
        name: "data_dir",
        allowed: "a directory path (created if missing)",
    },
    Key {
        name: "listen",
        allowed: "an IP address and port such as 127.0.0.1:8600 or [::1]:8600",
    },
    Key {
        name: "database_url",
        allowed: "a postgres:// URL; leave unset for the embedded SQLite database in data_dir",
    },
    Key {
        name: "key_file",
        allowed: "a file path for the local master key (default <data_dir>/master.key)",
    },
    Key {
        name: "key_provider",
        allowed: "local (the key file), pkcs11 (an HSM token) or openbao (OpenBao transit)",
    },
    Key {
        name: "pkcs11_module",
        allowed: "the PKCS#11 library path (default /usr/lib/softhsm/libsofthsm2.so)",
    },
    Key {
        name: "pkcs11_token_label",
        allowed: "the token's label (default bioguard)",
    },
    Key {
        name: "pkcs11_pin_file",
        allowed: "a file (mode 0600) holding the token's user PIN; or set BIOGUARD_PKCS11_PIN",
    },
    Key {
        name: "openbao_addr",
        allowed: "the OpenBao server, an http:// address (default http://127.0.0.1:8200)",
    },
    Key {
        name: "openbao_mount",
        allowed: "the transit engine's mount path (default transit)",
    },
    Key {
        name: "openbao_key",
        allowed: "the transit key's name (default bioguard)",
    },
    Key {
        name: "openbao_token_file",
        allowed: "a file (mode 0600) holding the OpenBao token; or set BIOGUARD_OPENBAO_TOKEN",
    },
    Key {
        name: "tls_cert",
        allowed: "a PEM certificate chain file; with tls_key, the service speaks HTTPS",
    },
    Key {
        name: "tls_key",
        allowed: "the PEM private key file (mode 0600) of tls_cert",
    },
    Key {
        name: "tls_client_ca",
        allowed: "a PEM CA file: every client must present a certificate it issued (mutual TLS)",
    },
    Key {
        name: "client_rate_per_sec",
        allowed: "requests per second each API client may make on this node (burst: twice that); 0 for no limit; default 1000",
    },
    Key {
        name: "data_key_cache_secs",
        allowed: "seconds an unwrapped data key may stay in memory to spare the key manager a round trip (0 to 3600; default 0: never)",
    },
    Key {
        name: "abuse_distinct_subjects_per_min",
        allowed: "distinct subjects one client may verify within a minute on this node before it is suspended and an incident opened (0: off, the default)",
    },
    Key {
        name: "abuse_hill_climb_probes",
        allowed: "failed probes of one subject by one client, each strictly closer to the threshold within ten minutes, that suspend the client and open an incident (0: off, the default; 4 is a sensible value)",
    },
    Key {
        name: "max_body_bytes",
        allowed: "an integer from 1024 to 16777216",
    },
    Key {
        name: "checkpoint_interval_secs",
        allowed: "a whole number of seconds from 1 to 86400",
    },
    Key {
        name: "retention_sweep_secs",
        allowed: "a whole number of seconds from 0 (no sweeper in this process) to 604800",
    },
    Key {
        name: "gallery_sync_ms",
        allowed: "a whole number of milliseconds from 50 to 60000",
    },
    Key {
        name: "log",
        allowed: "a log filter such as info, warn or bioguard_service=debug",
    },
    Key {
        name: "log_format",
        allowed: "text (default, for people) or json (one JSON object per line, for log collectors)",
    },
    Key {
        name: "operator_name",
        allowed: "the legal name of the organisation running this service, shown on every public page and named as controller in the default tenant's notices (with operator_contact; not a placeholder)",
    },
    Key {
        name: "operator_contact",
        allowed: "how people reach the operator about their data (an e-mail address, a URL or a telephone number), shown on every public page",
    },
    Key {
        name: "operator_jurisdiction",
        allowed: "the law that applies to the operator's processing, e.g. \"EU: GDPR\"; the default tenant's notices name it when they do not name their own",
    },
    Key {
        name: "public_origin",
        allowed: "the origin people open the console at, https://host[:port] (plain http only for localhost); risk-group passkeys are bound to its host name, so changing it makes every registered passkey useless (default http://localhost:<port of listen>)",
    },
    Key {
        name: "display_utc_offset",
        allowed: "the offset from UTC in which pages write times for people, as +HH:MM or -HH:MM (from -12:00 to +14:00; default +00:00, UTC), e.g. +08:00 for a deployment serving China",
    },
    Key {
        name: "webhook_retry_secs",
        allowed: "seconds before a failed webhook message is first retried; later retries wait 6, 60, 360, 1440, 4320 and 8640 times as long, then it is given up (1 to 3600; default 5)",
    },
    Key {
        name: "webhook_ca_file",
        allowed: "a PEM file of the certificate authorities webhook receivers' https:// certificates must chain to (default /etc/ssl/certs/ca-certificates.crt)",
    },
    Key {
        name: "http_header_timeout_secs",
        allowed: "seconds a connection may take to send a request's headers, which is also how long an idle connection is kept (1 to 300; default 10)",
    },
    Key {
        name: "http_body_timeout_secs",
        allowed: "seconds a request body may take to arrive after its headers (1 to 600; default 30)",
    },
    Key {
        name: "max_connections",
        allowed: "connections served at once, more are closed as they arrive (16 to 1000000; default 16384, lowered to fit the open-files limit)",
    },
    Key {
        name: "public_rate_per_ip",
        allowed: "requests per second one address may make to the routes that need no credentials (burst: twice that); 0 for no limit; default 50",
    },
    Key {
        name: "behind_proxy",
        allowed: "true when a proxy in front appends the caller's address to X-Forwarded-For (the per-address limit then reads it), false otherwise (the default)",
    },
    Key {
        name: "secure_cookies",
        allowed: "true to mark the portal's cookie Secure (HTTPS in front of the service, at a proxy or here), false not to; default: true exactly when tls_cert is set",
    },
];

/// Where a raw value came from, for error messages.
#[derive(Debug, Clone)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("the default"),
            Source::File(p) => write!(f, "config file {}", p.display()),
            Source::Env(v) => write!(f, "environment variable {v}"),
            Source::Flag(v) => write!(f, "command-line flag {v}"),
        }
    }
}

/// Raw settings as text, with where each came from.
#[derive(Debug, Default)]
pub struct RawConfig {
    values: BTreeMap<&'static str, (String, Source)>,
}

/// HTTPS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// Which key provider holds the key-encryption keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProviderConfig {
    /// The local key file (`key_file`).
    Local,
    /// A PKCS#11 token.
    Pkcs11 {
        module: PathBuf,
        token_label: String,
        /// Where the PIN is; without it, `BIOGUARD_PKCS11_PIN`.
        pin_file: Option<PathBuf>,
    },
    /// OpenBao transit.
    OpenBao {
        addr: String,
        mount: String,
        key: String,
        /// Where the token is; without it, `BIOGUARD_OPENBAO_TOKEN`.
        token_file: Option<PathBuf>,
    },
}

/// The validated settings of `bioguard serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub database_url: Option<String>,
    pub key_file: PathBuf,
    pub keys: KeyProviderConfig,
    pub tls: Option<TlsConfig>,
    pub client_rate_per_sec: u32,
    pub data_key_cache_secs: u64,
    pub abuse_distinct_subjects_per_min: u32,
    pub abuse_hill_climb_probes: u32,
    pub max_body_bytes: usize,
    pub checkpoint_interval_secs: u64,
    pub retention_sweep_secs: u64,
    pub gallery_sync_ms: u64,
    pub log: String,
    /// One JSON object per log line instead of text.
    pub log_json: bool,
    pub http: bioguard_server::HttpLimits,
    pub secure_cookies: bool,
    pub webhooks: bioguard_server::webhooks::Delivery,
    /// Who runs the service (`None`: not configured; pages say so).
    pub operator: Option<bioguard_core::Operator>,
    /// The offset from UTC in which pages write times, in minutes.
    pub display_offset_minutes: i32,
    /// The origin the console is served at; passkeys are bound to its host. None:
    /// `http://localhost:<port listened on>`.
    pub public_origin: Option<bioguard_ledger::webauthn::RelyingParty>,
}

fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

fn known_keys() -> String {
    KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

fn env_name(key: &str) -> String {
    format!("BIOGUARD_{}", key.to_ascii_uppercase())
}

impl RawConfig {
    fn set(&mut self, name: &'static str, value: String, source: Source) {
        self.values.insert(name, (value, source));
    }

    /// Reads a TOML file. Unknown keys and values that are not strings or integers are errors.
    pub fn merge_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            anyhow::anyhow!(
                "config file {} is not valid TOML: {}",
                path.display(),
                e.message()
            )
        })?;
        for (k, v) in table {
            let Some(spec) = key(&k) else {
                bail!(
                    "config file {}: unknown key `{k}`; known keys: {}",
                    path.display(),
                    known_keys()
                );
            };
            let text = match v {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                _ => bail!(
                    "config file {}: `{k}` must be a string or an integer: {}",
                    path.display(),
                    spec.allowed
                ),
            };
            self.set(spec.name, text, Source::File(path.to_owned()));
        }
        Ok(())
    }

    /// Reads `BIOGUARD_*` variables. Unknown ones are reported as warnings (returned), since
    /// other tools may share the prefix; `BIOGUARD_TEST_*` belongs to the test suite.
    pub fn merge_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
        let mut warnings = Vec::new();
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix("BIOGUARD_") else {
                continue;
            };
            if rest.starts_with("TEST_")
                || rest == "ADMIN_TOKEN"
                || rest == "API_KEY"
                || rest == "PKCS11_PIN"
                || rest == "OPENBAO_TOKEN"
            {
                continue;
            }
            match key(&rest.to_ascii_lowercase()) {
                Some(spec) => self.set(spec.name, value, Source::Env(name)),
                None => warnings.push(format!(
                    "ignoring unknown environment variable {name}; known: {}",
                    KEYS.iter()
                        .map(|k| env_name(k.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        warnings
    }

    /// Applies a command-line flag.
    pub fn merge_flag(&mut self, name: &'static str, flag: &str, value: Option<String>) {
        if let Some(v) = value {
            self.set(name, v, Source::Flag(flag.to_owned()));
        }
    }

    fn get(&self, name: &'static str) -> Option<&(String, Source)> {
        self.values.get(name)
    }

    /// A whole number in `range`, or `default` when unset.
    fn number(
        &self,
        name: &'static str,
        range: std::ops::RangeInclusive<u64>,
        default: u64,
    ) -> anyhow::Result<u64> {
        match self.get(name) {
            Some((v, s)) => v
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    let allowed = key(name).map_or("", |k| k.allowed);
                    anyhow::anyhow!("invalid value for `{name}` (from {s}): expected {allowed}")
                }),
            None => Ok(default),
        }
    }

    /// `true` or `false`, or `default` when unset.
    fn flag(&self, name: &'static str, default: bool) -> anyhow::Result<bool> {
        match self.get(name).map(|(v, s)| (v.as_str(), s)) {
            None => Ok(default),
            Some(("true", _)) => Ok(true),
            Some(("false", _)) => Ok(false),
            Some((_, s)) => {
                let allowed = key(name).map_or("", |k| k.allowed);
                Err(anyhow::anyhow!(
                    "invalid value for `{name}` (from {s}): expected {allowed}"
                ))
            }
        }
    }

    /// Validates the merged settings.
    pub fn validate(&self) -> anyhow::Result<Config> {
        let invalid = |name: &'static str, source: &Source| {
            let allowed = key(name).map_or("", |k| k.allowed);
            anyhow::anyhow!("invalid value for `{name}` (from {source}): expected {allowed}")
        };
        let data_dir = match self.get("data_dir") {
            Some((v, s)) if v.trim().is_empty() => return Err(invalid("data_dir", s)),
            Some((v, _)) => PathBuf::from(v),
            None => PathBuf::from("bioguard-data"),
        };
        let listen = match self.get("listen") {
            Some((v, s)) => v.parse().map_err(|_| invalid("listen", s))?,
            None => SocketAddr::from(([127, 0, 0, 1], 8600)),
        };
        let database_url = match self.get("database_url") {
            Some((v, _)) if v.is_empty() => None,
            Some((v, s)) => {
                if !(v.starts_with("postgres://") || v.starts_with("postgresql://")) {
                    return Err(invalid("database_url", s));
                }
                Some(v.clone())
            }
            None => None,
        };
        let key_file = match self.get("key_file") {
            Some((v, s)) if v.trim().is_empty() => return Err(invalid("key_file", s)),
            Some((v, _)) => PathBuf::from(v),
            None => data_dir.join("master.key"),
        };
        let keys = match self.get("key_provider").map(|(v, s)| (v.as_str(), s)) {
            None | Some(("local", _)) => KeyProviderConfig::Local,
            Some(("pkcs11", _)) => KeyProviderConfig::Pkcs11 {
                module: self
                    .get("pkcs11_module")
                    .map_or("/usr/lib/softhsm/libsofthsm2.so".into(), |(v, _)| v.into()),
                token_label: self
                    .get("pkcs11_token_label")
                    .map_or("bioguard".into(), |(v, _)| v.clone()),
                pin_file: self.get("pkcs11_pin_file").map(|(v, _)| v.into()),
            },
            Some(("openbao", _)) => KeyProviderConfig::OpenBao {
                addr: self
                    .get("openbao_addr")
                    .map_or("http://127.0.0.1:8200".into(), |(v, _)| v.clone()),
                mount: self
                    .get("openbao_mount")
                    .map_or("transit".into(), |(v, _)| v.clone()),
                key: self
                    .get("openbao_key")
                    .map_or("bioguard".into(), |(v, _)| v.clone()),
                token_file: self.get("openbao_token_file").map(|(v, _)| v.into()),
            },
            Some((_, s)) => return Err(invalid("key_provider", s)),
        };
        let tls = match (self.get("tls_cert"), self.get("tls_key")) {
            (None, None) => {
                if let Some((_, s)) = self.get("tls_client_ca") {
                    return Err(invalid("tls_client_ca", s));
                }
                None
            }
            (Some((cert, _)), Some((key, _))) => Some(TlsConfig {
                cert: cert.into(),
                key: key.into(),
                client_ca: self.get("tls_client_ca").map(|(v, _)| v.into()),
            }),
            (Some((_, s)), None) => return Err(invalid("tls_key", s)),
            (None, Some((_, s))) => return Err(invalid("tls_cert", s)),
        };
        let client_rate_per_sec = match self.get("client_rate_per_sec") {
            Some((v, s)) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 1_000_000)
                .ok_or_else(|| invalid("client_rate_per_sec", s))?,
            None => 1000,
        };
        let data_key_cache_secs = match self.get("data_key_cache_secs") {
            Some((v, s)) => v
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= 3600)
                .ok_or_else(|| invalid("data_key_cache_secs", s))?,
            None => 0,
        };
        let abuse_distinct_subjects_per_min = match self.get("abuse_distinct_subjects_per_min") {
            Some((v, s)) => v
                .parse::<u32>()
                .ok()
                .ok_or_else(|| invalid("abuse_distinct_subjects_per_min", s))?,
            None => 0,
        };
        let abuse_hill_climb_probes = match self.get("abuse_hill_climb_probes") {
            Some((v, s)) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n == 0 || (2..=100).contains(n))
                .ok_or_else(|| invalid("abuse_hill_climb_probes", s))?,
            None => 0,
        };
        let max_body_bytes = match self.get("max_body_bytes") {
            Some((v, s)) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1024..=16 * 1024 * 1024).contains(n))
                .ok_or_else(|| invalid("max_body_bytes", s))?,
            None => bioguard_server::DEFAULT_MAX_BODY_BYTES,
        };
        let checkpoint_interval_secs = match self.get("checkpoint_interval_secs") {
            Some((v, s)) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=86_400).contains(n))
                .ok_or_else(|| invalid("checkpoint_interval_secs", s))?,
            None => 60,
        };
        let retention_sweep_secs = match self.get("retention_sweep_secs") {
            Some((v, s)) => v
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= 604_800)
                .ok_or_else(|| invalid("retention_sweep_secs", s))?,
            None => 3600,
        };
        let gallery_sync_ms = match self.get("gallery_sync_ms") {
            Some((v, s)) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (50..=60_000).contains(n))
                .ok_or_else(|| invalid("gallery_sync_ms", s))?,
            None => 1000,
        };
        let log = match self.get("log") {
            Some((v, s)) => {
                tracing_subscriber::EnvFilter::try_new(v).map_err(|_| invalid("log", s))?;
                v.clone()
            }
            None => "info".to_owned(),
        };
        let log_json = match self.get("log_format") {
            Some((v, _)) if v == "json" => true,
            Some((v, _)) if v == "text" => false,
            Some((_, s)) => return Err(invalid("log_format", s)),
            None => false,
        };
        let http = bioguard_server::HttpLimits {
            header_timeout: std::time::Duration::from_secs(self.number(
                "http_header_timeout_secs",
                1..=300,
                10,
            )?),
            body_timeout: std::time::Duration::from_secs(self.number(
                "http_body_timeout_secs",
                1..=600,
                30,
            )?),
            max_connections: self.number("max_connections", 16..=1_000_000, 16_384)? as usize,
            public_per_ip: self.number("public_rate_per_ip", 0..=1_000_000, 50)? as u32,
            forwarded_for: self.flag("behind_proxy", false)?,
        };
        let secure_cookies = self.flag("secure_cookies", tls.is_some())?;
        let webhooks = bioguard_server::webhooks::Delivery {
            retry_base: std::time::Duration::from_secs(self.number(
                "webhook_retry_secs",
                1..=3600,
                5,
            )?),
            ca_file: self
                .get("webhook_ca_file")
                .map(|(v, _)| PathBuf::from(v))
                .unwrap_or_else(|| PathBuf::from(bioguard_server::webhooks::SYSTEM_CA_FILE)),
            ..bioguard_server::webhooks::Delivery::default()
        };
        let operator = match (
            self.get("operator_name"),
            self.get("operator_contact"),
            self.get("operator_jurisdiction"),
        ) {
            (None, None, None) => None,
            (Some((name, _)), Some((contact, _)), jurisdiction) => Some(
                bioguard_core::Operator::new(name, contact, jurisdiction.map(|(j, _)| j.as_str()))
                    .map_err(|e| {
                        let source = self
                            .get(e.field())
                            .map_or_else(String::new, |(_, s)| format!(" (from {s})"));
                        anyhow::anyhow!("invalid value for `{}`{source}: {}", e.field(), e.rule())
                    })?,
            ),
            _ => anyhow::bail!(
                "operator_name and operator_contact go together: set both (and \
                 operator_jurisdiction to name the law for the default tenant's notices)"
            ),
        };
        let public_origin = match self.get("public_origin") {
            Some((v, s)) => Some(
                bioguard_ledger::webauthn::RelyingParty::from_origin(v.trim_end_matches('/'))
                    .map_err(|e| {
                        anyhow::anyhow!("invalid value for `public_origin` (from {s}): {e}")
                    })?,
            ),
            None => None,
        };
        let display_offset_minutes = match self.get("display_utc_offset") {
            None => 0,
            Some((v, s)) => {
                utc_offset_minutes(v).ok_or_else(|| invalid("display_utc_offset", s))?
            }
        };
        Ok(Config {
            data_dir,
            listen,
            database_url,
            key_file,
            keys,
            tls,
            client_rate_per_sec,
            data_key_cache_secs,
            abuse_distinct_subjects_per_min,
            abuse_hill_climb_probes,
            max_body_bytes,
            checkpoint_interval_secs,
            retention_sweep_secs,
            gallery_sync_ms,
            log,
            log_json,
            http,
            secure_cookies,
            webhooks,
            operator,
            public_origin,
            display_offset_minutes,
        })
    }
}

/// Minutes east of UTC of an offset written `+HH:MM` or `-HH:MM`, from -12:00 to +14:00.
fn utc_offset_minutes(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = sign * (h * 60 + m);
    (m < 60 && (-12 * 60..=14 * 60).contains(&minutes)).then_some(minutes)
}

/// Where each setting came from, for the start-up log (values of secrets are not shown; no
/// setting is a secret today, but the database URL may embed a password).
pub fn describe(raw: &RawConfig, cfg: &Config, serving: bool) -> String {
    let source = |k: &'static str| raw.get(k).map_or(Source::Default, |(_, s)| s.clone());
    // Only `serve` listens: a maintenance command's line leaves the address out.
    let listen = if serving {
        format!(", listen={} ({})", cfg.listen, source("listen"))
    } else {
        String::new()
    };
    format!(
        "data_dir={} ({}){listen}, database={} ({})",
        cfg.data_dir.display(),
        source("data_dir"),
        if cfg.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        source("database_url"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn display_offsets_are_whole_minutes_east_of_utc_within_the_worlds_zones() {
        assert_eq!(utc_offset_minutes("+00:00"), Some(0));
        assert_eq!(utc_offset_minutes("+08:00"), Some(480));
        assert_eq!(utc_offset_minutes("-05:30"), Some(-330));
        assert_eq!(utc_offset_minutes("+14:00"), Some(840));
        assert_eq!(utc_offset_minutes("-12:00"), Some(-720));
        for bad in [
            "08:00", "+8:00", "+08", "+08:60", "+15:00", "-12:30", "UTC", "", "+0a:00",
        ] {
            assert_eq!(utc_offset_minutes(bad), None, "{bad}");
        }
    }

    #[test]
    fn defaults() {
        let cfg = RawConfig::default().validate().expect("valid");
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8600");
        assert_eq!(cfg.data_dir, PathBuf::from("bioguard-data"));
        assert_eq!(cfg.key_file, PathBuf::from("bioguard-data/master.key"));
        assert!(cfg.database_url.is_none());
    }

    #[test]
    fn log_format_is_text_or_json() {
        assert!(!RawConfig::default().validate().expect("valid").log_json);
        let mut raw = RawConfig::default();
        raw.merge_env(env(&[("BIOGUARD_LOG_FORMAT", "json")]));
        assert!(raw.validate().expect("valid").log_json);
        raw.merge_flag("log_format", "--log-format", Some("yaml".into()));
        let err = raw.validate().expect_err("yaml is refused").to_string();
        assert!(
            err.contains("--log-format") && err.contains("json"),
            "{err}"
        );
    }

    #[test]
    fn precedence_file_env_flag() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1000\"\nmax_body_bytes = 4096\n",
        )
        .expect("write");
        let mut raw = RawConfig::default();
        raw.merge_file(&file).expect("file");
        raw.merge_env(env(&[("BIOGUARD_LISTEN", "127.0.0.1:2000")]));
        let cfg = raw.validate().expect("valid");
        assert_eq!(cfg.listen.port(), 2000);
        assert_eq!(cfg.max_body_bytes, 4096);
        raw.merge_flag("listen", "--listen", Some("127.0.0.1:3000".into()));
        assert_eq!(raw.validate().expect("valid").listen.port(), 3000);
    }

    #[test]
    fn http_bounds_and_cookies_behind_a_proxy() {
        let cfg = RawConfig::default().validate().expect("valid");
        assert_eq!(cfg.http.header_timeout, std::time::Duration::from_secs(10));
        assert_eq!(cfg.http.public_per_ip, 50);
        assert!(
            !cfg.http.forwarded_for && !cfg.secure_cookies,
            "plain HTTP by default"
        );
        let mut raw = RawConfig::default();
        raw.merge_env(env(&[
            ("BIOGUARD_SECURE_COOKIES", "true"),
            ("BIOGUARD_BEHIND_PROXY", "true"),
            ("BIOGUARD_HTTP_BODY_TIMEOUT_SECS", "5"),
            ("BIOGUARD_PUBLIC_RATE_PER_IP", "0"),
        ]));
        let cfg = raw.validate().expect("valid");
        assert!(cfg.secure_cookies, "HTTPS at a proxy in front, not here");
        assert!(cfg.http.forwarded_for);
        assert_eq!(cfg.http.body_timeout, std::time::Duration::from_secs(5));
        assert_eq!(cfg.http.public_per_ip, 0);
        for (k, v) in [
            ("BIOGUARD_SECURE_COOKIES", "yes"),
            ("BIOGUARD_HTTP_HEADER_TIMEOUT_SECS", "0"),
            ("BIOGUARD_MAX_CONNECTIONS", "3"),
        ] {
            let mut raw = RawConfig::default();
            raw.merge_env(env(&[(k, v)]));
            let e = raw.validate().expect_err("invalid").to_string();
            assert!(e.contains(k), "{e}");
        }
    }

    #[test]
    fn the_public_origin_is_one_passkeys_can_be_bound_to() {
        assert!(
            RawConfig::default()
                .validate()
                .expect("valid")
                .public_origin
                .is_none()
        );
        let mut raw = RawConfig::default();
        raw.merge_env(env(&[(
            "BIOGUARD_PUBLIC_ORIGIN",
            "https://risk.example.org/",
        )]));
        let cfg = raw.validate().expect("valid");
        assert_eq!(
            cfg.public_origin.map(|rp| rp.id().to_owned()).as_deref(),
            Some("risk.example.org")
        );
        for bad in [
            "http://risk.example.org",
            "https://10.1.2.3",
            "risk.example.org",
        ] {
            let mut raw = RawConfig::default();
            raw.merge_env(env(&[("BIOGUARD_PUBLIC_ORIGIN", bad)]));
            let e = raw.validate().expect_err("invalid").to_string();
            assert!(
                e.contains("`public_origin`") && e.contains("BIOGUARD_PUBLIC_ORIGIN"),
                "{e}"
            );
        }
    }

    #[test]
    fn errors_name_key_source_and_rule() {
        let mut raw = RawConfig::default();
        raw.merge_env(env(&[("BIOGUARD_LISTEN", "localhost")]));
        let e = raw.validate().expect_err("invalid").to_string();
        assert!(
            e.contains("`listen`") && e.contains("BIOGUARD_LISTEN") && e.contains("127.0.0.1:8600"),
            "{e}"
        );

        let mut raw = RawConfig::default();
        raw.merge_env(env(&[("BIOGUARD_MAX_BODY_BYTES", "12")]));
        assert!(
            raw.validate()
                .expect_err("invalid")
                .to_string()
                .contains("1024")
        );

        let mut raw = RawConfig::default();
        raw.merge_env(env(&[("BIOGUARD_DATABASE_URL", "mysql://x")]));
        assert!(
            raw.validate()
                .expect_err("invalid")
                .to_string()
                .contains("database_url")
        );
    }

    #[test]
    fn unknown_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lisen = \"x\"\n").expect("write");
        let e = RawConfig::default()
            .merge_file(&file)
            .expect_err("unknown")
            .to_string();
        assert!(
            e.contains("unknown key `lisen`") && e.contains("listen"),
            "{e}"
        );

        let warnings = RawConfig::default().merge_env(env(&[
            ("BIOGUARD_LISTN", "x"),
            ("BIOGUARD_TEST_DATABASE_URL", "postgres://x"),
        ]));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("BIOGUARD_LISTN"));
    }
}
