//! TLS and mutual TLS between nodes, with rustls.

use std::fmt;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use crate::error::RemoteError;

/// How a node secures its connections: its certificate and key, and the authority it trusts
/// for its peers' certificates. Every node is a server to the peers that send to it and a
/// client of the peers it sends to, so one configuration covers both sides.
///
/// With [`mutual`](Self::mutual), the node also refuses any peer that does not present a
/// certificate signed by the authority, and presents its own when it connects. Peers verify
/// a node's certificate against the host they dial (an IP address or a DNS name in its
/// subject alternative names), unless [`server_name`](Self::server_name) says otherwise.
///
/// Rustls uses the `ring` provider unless the program installed another process-wide
/// default.
///
/// ```no_run
/// use rakt_actor::ActorSystem;
/// use rakt_remote::{Remoting, TlsConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = TlsConfig::new(
///     std::fs::read("node.pem")?,
///     std::fs::read("node.key")?,
///     std::fs::read("ca.pem")?,
/// )
/// .mutual(true);
/// let system = ActorSystem::builder("secure").build()?;
/// let remoting = Remoting::builder(&system).tls(tls).start().await?;
/// # remoting.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    certificate: Vec<u8>,
    key: Vec<u8>,
    authority: Vec<u8>,
    mutual: bool,
    server_name: Option<String>,
}

impl TlsConfig {
    /// The node's certificate chain and private key, and the certificate authority it trusts,
    /// all PEM-encoded.
    pub fn new(
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
        authority_pem: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            certificate: certificate_pem.into(),
            key: key_pem.into(),
            authority: authority_pem.into(),
            mutual: false,
            server_name: None,
        }
    }

    /// Whether peers must present a certificate signed by the authority (mutual TLS).
    /// Default `false`.
    pub fn mutual(mut self, required: bool) -> Self {
        self.mutual = required;
        self
    }

    /// The name every peer's certificate is verified against, instead of the host dialled:
    /// for nodes that share one certificate, or are dialled by addresses their certificates
    /// do not name.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.certificate, &self.key)
    }

    fn authority(&self) -> Certificate {
        Certificate::from_pem(&self.authority)
    }

    /// The server's side.
    pub(crate) fn server(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new().identity(self.identity());
        if self.mutual {
            config.client_ca_root(self.authority())
        } else {
            config
        }
    }

    /// The client's side; a node presents its certificate only under mutual TLS.
    pub(crate) fn client(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new().ca_certificate(self.authority());
        if self.mutual {
            config = config.identity(self.identity());
        }
        if let Some(name) = &self.server_name {
            config = config.domain_name(name.clone());
        }
        config
    }

    /// Checks that the certificates and key parse, on both sides, before the node listens.
    pub(crate) fn validate(&self) -> Result<(), RemoteError> {
        let invalid = |error: tonic::transport::Error| RemoteError::InvalidConfig {
            field: "tls",
            reason: describe(&error),
        };
        tonic::transport::Server::builder()
            .tls_config(self.server())
            .map_err(invalid)?;
        Endpoint::from_static("https://localhost")
            .tls_config(self.client())
            .map_err(invalid)?;
        Ok(())
    }
}

/// An error with its sources, which is where tonic says what is wrong.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs.
        f.debug_struct("TlsConfig")
            .field("mutual", &self.mutual)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}
