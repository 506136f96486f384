//! Where the NATS servers are, and how patient to be with them.

use std::time::Duration;

use rakt_discovery::DiscoveryError;

/// The settings of [`NatsDiscovery`](crate::NatsDiscovery), as code or a configuration file
/// gives them, with GoAkt's defaults.
///
/// | field | meaning | default |
/// |---|---|---|
/// | `servers` | NATS server URLs (`nats://host:port`) | required |
/// | `subject` | the subject the cluster's nodes meet on | required |
/// | `timeout` | the bound of one connection attempt, and how long `discover_peers` collects answers | `1s` |
/// | `max_join_attempts` | connection attempts at `initialize` before giving up | `5` |
/// | `reconnect_wait` | the wait between attempts, and between reconnections once connected | `2s` |
/// | `user`, `password` | credentials, when the server asks for them | none |
/// | `token` | a token, when the server asks for one | none |
///
/// ```
/// use std::time::Duration;
/// use rakt_discovery_nats::NatsConfig;
///
/// let config: NatsConfig = serde_json::from_str(r#"{
///     "servers": ["nats://10.0.0.5:4222"],
///     "subject": "rakt.discovery.orders",
///     "timeout": "500ms"
/// }"#)?;
/// assert_eq!(config.timeout, Duration::from_millis(500));
/// assert_eq!(config.max_join_attempts, 5);
/// assert_eq!(config.reconnect_wait, Duration::from_secs(2));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// The NATS servers to connect to.
    pub servers: Vec<String>,
    /// The subject the cluster's nodes meet on; events go on `<subject>.events`.
    pub subject: String,
    /// The bound of one connection attempt, and how long `discover_peers` collects answers.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Connection attempts at `initialize` before giving up.
    #[serde(default = "default_attempts")]
    pub max_join_attempts: u32,
    /// The wait between connection attempts, and between reconnections once connected.
    #[serde(default = "default_reconnect_wait", with = "humantime_serde")]
    pub reconnect_wait: Duration,
    /// The user name, when the server asks for credentials.
    #[serde(default)]
    pub user: Option<String>,
    /// The password that goes with `user`.
    #[serde(default)]
    pub password: Option<String>,
    /// The token, when the server asks for one.
    #[serde(default)]
    pub token: Option<String>,
}

fn default_timeout() -> Duration {
    NatsConfig::DEFAULT_TIMEOUT
}

fn default_attempts() -> u32 {
    NatsConfig::DEFAULT_MAX_JOIN_ATTEMPTS
}

fn default_reconnect_wait() -> Duration {
    NatsConfig::DEFAULT_RECONNECT_WAIT
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs.
        f.debug_struct("NatsConfig")
            .field("servers", &self.servers)
            .field("subject", &self.subject)
            .field("timeout", &self.timeout)
            .field("max_join_attempts", &self.max_join_attempts)
            .field("reconnect_wait", &self.reconnect_wait)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl NatsConfig {
    /// The default of [`timeout`](Self::timeout): 1 second.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
    /// The default of [`max_join_attempts`](Self::max_join_attempts): 5.
    pub const DEFAULT_MAX_JOIN_ATTEMPTS: u32 = 5;
    /// The default of [`reconnect_wait`](Self::reconnect_wait): 2 seconds.
    pub const DEFAULT_RECONNECT_WAIT: Duration = Duration::from_secs(2);

    /// A configuration for `servers` and `subject`, with the defaults.
    ///
    /// ```
    /// use rakt_discovery_nats::NatsConfig;
    ///
    /// let config = NatsConfig::new(["nats://127.0.0.1:4222"], "rakt.discovery.orders");
    /// assert_eq!(config.max_join_attempts, NatsConfig::DEFAULT_MAX_JOIN_ATTEMPTS);
    /// ```
    pub fn new(
        servers: impl IntoIterator<Item = impl Into<String>>,
        subject: impl Into<String>,
    ) -> Self {
        Self {
            servers: servers.into_iter().map(Into::into).collect(),
            subject: subject.into(),
            timeout: Self::DEFAULT_TIMEOUT,
            max_join_attempts: Self::DEFAULT_MAX_JOIN_ATTEMPTS,
            reconnect_wait: Self::DEFAULT_RECONNECT_WAIT,
            user: None,
            password: None,
            token: None,
        }
    }

    /// The subject of joins and leaves.
    pub(crate) fn events_subject(&self) -> String {
        format!("{}.events", self.subject)
    }

    /// Checks the settings that need no network.
    pub(crate) fn validate(&self) -> Result<(), DiscoveryError> {
        if self.servers.is_empty() {
            return Err(DiscoveryError::invalid_config(
                "servers",
                "the list is empty",
            ));
        }
        if let Some(bad) = self
            .servers
            .iter()
            .find(|server| server.trim().is_empty() || server.contains(char::is_whitespace))
        {
            return Err(DiscoveryError::invalid_config(
                "servers",
                format!("{bad:?} is not a server url"),
            ));
        }
        let subject_ok = !self.subject.is_empty()
            && self.subject.split('.').all(|token| {
                !token.is_empty()
                    && token != "*"
                    && token != ">"
                    && !token.contains(char::is_whitespace)
            });
        if !subject_ok {
            return Err(DiscoveryError::invalid_config(
                "subject",
                format!("{:?} is not a subject without wildcards", self.subject),
            ));
        }
        if self.timeout.is_zero() {
            return Err(DiscoveryError::invalid_config(
                "timeout",
                "must be more than zero",
            ));
        }
        if self.max_join_attempts == 0 {
            return Err(DiscoveryError::invalid_config(
                "max_join_attempts",
                "must be at least 1",
            ));
        }
        if self.password.is_some() && self.user.is_none() {
            return Err(DiscoveryError::invalid_config(
                "password",
                "given without a user",
            ));
        }
        if self.user.is_some() && self.token.is_some() {
            return Err(DiscoveryError::invalid_config(
                "token",
                "give a token or a user, not both",
            ));
        }
        Ok(())
    }
}
