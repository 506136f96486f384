//! What nodes say to each other on the subject: JSON, so `nats sub` shows it as it is.

use std::collections::BTreeMap;

use rakt_discovery::{Peer, PeerError};

/// One message on the cluster's subjects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Message {
    /// "Who is there?", on the subject, with a reply subject.
    Discover,
    /// A registered node's answer to `Discover`.
    Here { peer: WirePeer },
    /// A node registered, on the events subject.
    Joined { peer: WirePeer },
    /// A node deregistered or closed, on the events subject.
    Left { peer: WirePeer },
}

/// A [`Peer`] as it travels.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct WirePeer {
    host: String,
    discovery_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remoting_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
}

impl From<&Peer> for WirePeer {
    fn from(peer: &Peer) -> Self {
        WirePeer {
            host: peer.host().to_owned(),
            discovery_port: peer.discovery_port(),
            remoting_port: peer.remoting_port(),
            node_id: peer.node_id().map(str::to_owned),
            metadata: peer.metadata().clone(),
        }
    }
}

impl TryFrom<WirePeer> for Peer {
    type Error = PeerError;

    /// Checks what another node sent as any peer is checked.
    fn try_from(wire: WirePeer) -> Result<Self, Self::Error> {
        let mut peer = Peer::new(wire.host, wire.discovery_port)?;
        if let Some(port) = wire.remoting_port {
            peer = peer.with_remoting_port(port)?;
        }
        if let Some(id) = wire.node_id {
            peer = peer.with_node_id(id)?;
        }
        Ok(wire
            .metadata
            .into_iter()
            .fold(peer, |peer, (key, value)| peer.with_metadata(key, value)))
    }
}

impl Message {
    pub(crate) fn encode(&self) -> bytes::Bytes {
        // A message of strings, numbers and string maps always serializes.
        serde_json::to_vec(self).unwrap_or_default().into()
    }

    pub(crate) fn decode(payload: &[u8]) -> Option<Message> {
        match serde_json::from_slice(payload) {
            Ok(message) => Some(message),
            Err(error) => {
                tracing::debug!(%error, "a message on the discovery subject is not one of ours; ignored");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_travel_whole_and_are_checked_on_arrival() {
        let peer = Peer::new("10.0.0.7", 3322)
            .and_then(|p| p.with_remoting_port(3321))
            .and_then(|p| p.with_node_id("node-7"))
            .expect("valid")
            .with_metadata("zone", "a");
        let message = Message::Here {
            peer: WirePeer::from(&peer),
        };
        let text = message.encode();
        assert_eq!(
            std::str::from_utf8(&text).expect("utf-8"),
            r#"{"kind":"here","peer":{"host":"10.0.0.7","discovery_port":3322,"remoting_port":3321,"node_id":"node-7","metadata":{"zone":"a"}}}"#
        );
        let Some(Message::Here { peer: back }) = Message::decode(&text) else {
            panic!("decodes");
        };
        assert_eq!(Peer::try_from(back), Ok(peer));

        let bad = br#"{"kind":"here","peer":{"host":"bad host","discovery_port":1}}"#;
        let Some(Message::Here { peer: bad }) = Message::decode(bad) else {
            panic!("decodes");
        };
        assert!(Peer::try_from(bad).is_err());
        assert_eq!(Message::decode(b"garbage"), None);
        assert_eq!(
            Message::decode(br#"{"kind":"discover"}"#),
            Some(Message::Discover)
        );
    }
}
