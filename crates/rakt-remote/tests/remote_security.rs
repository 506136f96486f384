//! TLS, mutual TLS and compression between two nodes on loopback, with certificates made at
//! run time.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rakt_actor::{ActorSystem, Address, Pid};
use rakt_proto::v1::StatusFailure as Text;
use rakt_remote::{Compression, RemoteError, Remoting, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use support::{Node, WAIT, text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A certificate authority made for one test.
struct Authority {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        let certificate = params.self_signed(&key).expect("self-signed");
        Self {
            pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for a node reached at 127.0.0.1, signed by this authority.
    fn node(&self, name: &str) -> TlsConfig {
        self.node_trusting(name, self)
    }

    /// A node certificate signed by this authority, for a node that trusts `trusted`.
    fn node_trusting(&self, name: &str, trusted: &Authority) -> TlsConfig {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("key");
        let certificate = params.signed_by(&key, &self.issuer).expect("signed");
        TlsConfig::new(certificate.pem(), key.serialize_pem(), trusted.pem.clone())
    }
}

async fn lookup(from: &Node, to: &Node, name: &str) -> Result<Option<Pid>, RemoteError> {
    tokio::time::timeout(WAIT, from.remoting.lookup(&to.remoting.address_of(name)))
        .await
        .expect("lookup answers within the wait")
}

async fn echo_round_trip(pid: &Pid) -> String {
    let reply: Text = pid.ask(text("secret")).await.expect("answers");
    reply.error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_talk_over_tls_and_a_plaintext_peer_is_not_served() {
    let authority = Authority::new("test ca");
    let a = Node::start("a", |b| b.tls(authority.node("a"))).await;
    let b = Node::start("b", |b| b.tls(authority.node("b"))).await;
    b.echo("echo").await;

    let echo = lookup(&a, &b, "echo")
        .await
        .expect("reachable")
        .expect("exists");
    assert_eq!(echo_round_trip(&echo).await, "secret");

    let plain = Node::start("plain", |b| b).await;
    let refused = lookup(&plain, &b, "echo").await;
    assert!(
        matches!(
            refused,
            Err(RemoteError::Unreachable { .. } | RemoteError::Refused { .. })
        ),
        "{refused:?}"
    );
    // The TLS node serves on.
    assert_eq!(echo_round_trip(&echo).await, "secret");
    for node in [a, b, plain] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_mutual_tls_refuses_peers_without_a_valid_certificate() {
    let authority = Authority::new("test ca");
    let rogue = Authority::new("rogue ca");
    let a = Node::start("a", |b| b.tls(authority.node("a").mutual(true))).await;
    let b = Node::start("b", |b| b.tls(authority.node("b").mutual(true))).await;
    b.echo("echo").await;

    // Both directions: the question goes on a's link, the reply to a's actor on b's.
    let echo = lookup(&a, &b, "echo")
        .await
        .expect("reachable")
        .expect("exists");
    assert_eq!(echo_round_trip(&echo).await, "secret");

    // Trusts b, but presents no certificate.
    let anonymous = Node::start("anonymous", |b| b.tls(authority.node("anonymous"))).await;
    let refused = lookup(&anonymous, &b, "echo").await;
    assert!(
        matches!(
            refused,
            Err(RemoteError::Unreachable { .. } | RemoteError::Refused { .. })
        ),
        "a peer without a certificate is refused: {refused:?}"
    );

    // Presents a certificate of another authority.
    let impostor = Node::start("impostor", |b| {
        b.tls(rogue.node_trusting("impostor", &authority).mutual(true))
    })
    .await;
    let refused = lookup(&impostor, &b, "echo").await;
    assert!(
        matches!(
            refused,
            Err(RemoteError::Unreachable { .. } | RemoteError::Refused { .. })
        ),
        "a peer with a certificate of another authority is refused: {refused:?}"
    );
    let address = b.remoting.address_of("echo");
    let unreached = impostor
        .remoting
        .actor(&address)
        .expect("a remote Pid")
        .ask::<Text, _>(Text::default())
        .await;
    assert!(unreached.is_err(), "{unreached:?}");

    // The node serves its valid peer on.
    assert_eq!(echo_round_trip(&echo).await, "secret");
    for node in [a, b, anonymous, impostor] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn unreadable_certificates_fail_at_start() {
    let system = ActorSystem::builder("broken").build().expect("system");
    let tls = TlsConfig::new("not a certificate", "not a key", "not an authority");
    let started = Remoting::builder(&system).tls(tls).start().await;
    assert!(
        matches!(
            started,
            Err(RemoteError::InvalidConfig { field: "tls", .. })
        ),
        "{started:?}"
    );
    system.stop().await.expect("stops");
}

/// Forwards connections to `target`, counting the bytes each way.
struct CountingProxy {
    address: SocketAddr,
    /// Bytes from the dialling node to the target.
    up: Arc<AtomicU64>,
    /// Bytes from the target back.
    down: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("address");
        let up = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicU64::new(0));
        let (up_count, down_count) = (up.clone(), down.clone());
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    continue;
                };
                let (in_read, in_write) = inbound.into_split();
                let (out_read, out_write) = outbound.into_split();
                tokio::spawn(pipe(in_read, out_write, up_count.clone()));
                tokio::spawn(pipe(out_read, in_write, down_count.clone()));
            }
        });
        Self {
            address,
            up,
            down,
            task,
        }
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                count.fetch_add(read as u64, Ordering::Relaxed);
                if to.write_all(&buffer[..read]).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Asks b's echo, through a proxy, a question of `REPLY` bytes, which comes back as the reply;
/// returns the bytes that went each way.
async fn measured_round_trip(sender: Compression, answerer: Compression) -> (u64, u64) {
    const REPLY: usize = 256 * 1024;
    let a = Node::start("a", |b| b.compression(sender)).await;
    let b = Node::start("b", |b| b.compression(answerer)).await;
    b.echo("echo").await;
    let proxy = CountingProxy::start(b.remoting.local_addr()).await;
    let through_proxy = Address::remote("b", "127.0.0.1", proxy.address.port(), "echo");
    let echo = a.remoting.actor(&through_proxy).expect("a remote Pid");
    let question = Text {
        error: "abcd".repeat(REPLY / 4),
    };
    let reply: Text = echo.ask(question).await.expect("answers through the proxy");
    assert_eq!(reply.error.len(), REPLY, "the reply is whole");
    let counted = (
        proxy.up.load(Ordering::Relaxed),
        proxy.down.load(Ordering::Relaxed),
    );
    drop(proxy);
    a.stop().await;
    b.stop().await;
    counted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_nodes_send_fewer_bytes_and_understand_each_other() {
    // The question is 256 KiB of a repeated pattern; the reply repeats the question.
    let (plain_up, plain_down) = measured_round_trip(Compression::None, Compression::None).await;
    assert!(plain_up > 256 * 1024, "uncompressed: {plain_up} bytes up");
    assert!(
        plain_down > 256 * 1024,
        "uncompressed: {plain_down} bytes down"
    );

    // A gzip sender to a zstd node: each compresses what it sends, each reads the other.
    let (gzip_up, zstd_down) = measured_round_trip(Compression::Gzip, Compression::Zstd).await;
    assert!(
        gzip_up * 10 < plain_up,
        "gzip: {gzip_up} bytes up, {plain_up} uncompressed"
    );
    assert!(
        zstd_down * 10 < plain_down,
        "zstd: {zstd_down} bytes down, {plain_down} uncompressed"
    );

    // A node without compression still reads a compressed peer, and is answered plainly.
    let (none_up, gzip_down) = measured_round_trip(Compression::None, Compression::Gzip).await;
    assert!(none_up > 256 * 1024, "{none_up}");
    assert!(gzip_down * 10 < plain_down, "{gzip_down}");
}
