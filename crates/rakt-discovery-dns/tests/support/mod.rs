//! A real DNS server for the tests: hickory-server, authoritative for one zone, on UDP and TCP
//! at 127.0.0.1 on a free port, its records changed while it runs, stopped when dropped.

#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, AAAA, SOA, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// The zone every test server serves.
pub const ZONE: &str = "rakt.test.";

pub struct DnsServer {
    pub address: SocketAddr,
    zone: Arc<InMemoryZoneHandler>,
    serial: AtomicU32,
    task: JoinHandle<()>,
}

impl DnsServer {
    /// Starts a server for [`ZONE`] with only its SOA record.
    pub async fn start() -> DnsServer {
        let origin = name(ZONE);
        let zone = InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa = SOA::new(
            name("ns.rakt.test."),
            name("admin.rakt.test."),
            1,
            60,
            60,
            60,
            0,
        );
        zone.upsert(Record::from_rdata(origin.clone(), 0, RData::SOA(soa)), 1)
            .await;
        let zone = Arc::new(zone);
        let mut catalog = Catalog::new();
        catalog.upsert(
            LowerName::new(&origin),
            vec![zone.clone() as Arc<dyn ZoneHandler>],
        );

        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let address = udp.local_addr().expect("udp address");
        // TCP on the same port, for answers too large for UDP.
        let tcp = TcpListener::bind(address)
            .await
            .expect("bind tcp on the udp port");
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        let task = tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });
        DnsServer {
            address,
            zone,
            serial: AtomicU32::new(2),
            task,
        }
    }

    /// Replaces the A and AAAA records of `host` with `addresses`.
    pub async fn set_addresses(&self, host: &str, addresses: &[IpAddr]) {
        let owner = name(host);
        self.clear(&owner, RecordType::A).await;
        self.clear(&owner, RecordType::AAAA).await;
        for address in addresses {
            let data = match address {
                IpAddr::V4(v4) => RData::A(A(*v4)),
                IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
            };
            self.upsert(Record::from_rdata(owner.clone(), 0, data))
                .await;
        }
    }

    /// Replaces the SRV records of `service` with `targets` (host, port).
    pub async fn set_srv(&self, service: &str, targets: &[(&str, u16)]) {
        let owner = name(service);
        self.clear(&owner, RecordType::SRV).await;
        for (target, port) in targets {
            let srv = SRV::new(10, 10, *port, name(target));
            self.upsert(Record::from_rdata(owner.clone(), 0, RData::SRV(srv)))
                .await;
        }
    }

    async fn upsert(&self, record: Record) {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        self.zone.upsert(record, serial).await;
    }

    async fn clear(&self, owner: &Name, kind: RecordType) {
        let key = RrKey::new(LowerName::new(owner), kind);
        self.zone.records_mut().await.remove(&key);
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // Dropping the server aborts its socket tasks.
        self.task.abort();
    }
}

/// A fully qualified name, as the zone stores its records.
pub fn name(text: &str) -> Name {
    let mut name = Name::from_str(text).expect("a valid test name");
    name.set_fqdn(true);
    name
}

/// A UDP and TCP port on 127.0.0.1 where nothing answers: bound, then let go.
pub async fn silent_address() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    socket.local_addr().expect("address")
}
