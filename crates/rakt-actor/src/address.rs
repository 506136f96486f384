//! Actor addresses (`rakt://system@host:port/name`) and name validation.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{AddressError, NameError};

/// The longest name accepted for an actor or a system.
pub const MAX_NAME_LEN: usize = 255;

/// Checks a system or actor name: 1 to 255 bytes of `[a-zA-Z0-9-_.]`, starting with a letter
/// or digit.
///
/// ```
/// use rakt_actor::validate_name;
///
/// assert!(validate_name("orders-1").is_ok());
/// assert!(validate_name("").is_err());
/// assert!(validate_name("-dash-first").is_err());
/// assert!(validate_name("white space").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong { len: name.len() });
    }
    for (position, byte) in name.bytes().enumerate() {
        let ok =
            byte.is_ascii_alphanumeric() || (position > 0 && matches!(byte, b'-' | b'_' | b'.'));
        if !ok {
            return Err(NameError::InvalidCharacter {
                name: name.to_owned(),
                position,
            });
        }
    }
    Ok(())
}

/// Where a node listens for remote actors.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Location {
    pub(crate) host: Arc<str>,
    pub(crate) port: u16,
}

/// The address of an actor: its system, where the system listens (when it is reachable from
/// other nodes) and the actor's name.
///
/// Displayed as `rakt://system@host:port/name`, or `rakt://system/name` for a system without
/// a network location, with an IPv6 host in brackets; [`FromStr`] parses that form back and
/// validates every part, with an [`AddressError`] naming what is wrong.
///
/// ```
/// use rakt_actor::Address;
///
/// let local = Address::local("shop", "cart-7");
/// assert_eq!(local.to_string(), "rakt://shop/cart-7");
///
/// let remote = Address::remote("shop", "10.0.0.5", 4000, "cart-7");
/// assert_eq!(remote.to_string(), "rakt://shop@10.0.0.5:4000/cart-7");
/// assert_eq!(remote.host(), Some("10.0.0.5"));
/// assert_eq!(remote.port(), Some(4000));
///
/// let parsed: Address = "rakt://shop@[::1]:4000/cart-7".parse()?;
/// assert_eq!(parsed.host(), Some("::1"));
/// assert_eq!(parsed.to_string(), "rakt://shop@[::1]:4000/cart-7");
/// assert!("rakt://shop@10.0.0.5/cart-7".parse::<Address>().is_err());
/// # Ok::<(), rakt_actor::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    system: Arc<str>,
    location: Option<Location>,
    name: Arc<str>,
}

impl Address {
    /// An address in a system without a network location.
    pub fn local(system: impl Into<Arc<str>>, name: impl Into<Arc<str>>) -> Self {
        Self {
            system: system.into(),
            location: None,
            name: name.into(),
        }
    }

    /// An address in a system listening on `host:port`.
    pub fn remote(
        system: impl Into<Arc<str>>,
        host: impl Into<Arc<str>>,
        port: u16,
        name: impl Into<Arc<str>>,
    ) -> Self {
        Self {
            system: system.into(),
            location: Some(Location {
                host: host.into(),
                port,
            }),
            name: name.into(),
        }
    }

    pub(crate) fn from_parts(system: Arc<str>, location: Option<Location>, name: Arc<str>) -> Self {
        Self {
            system,
            location,
            name,
        }
    }

    /// The actor system's name.
    pub fn system(&self) -> &str {
        &self.system
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host the system listens on, if it listens.
    pub fn host(&self) -> Option<&str> {
        self.location.as_ref().map(|l| &*l.host)
    }

    /// The port the system listens on, if it listens.
    pub fn port(&self) -> Option<u16> {
        self.location.as_ref().map(|l| l.port)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(Location { host, port }) if host.contains(':') => {
                write!(
                    f,
                    "rakt://{}@[{}]:{}/{}",
                    self.system, host, port, self.name
                )
            }
            Some(Location { host, port }) => {
                write!(f, "rakt://{}@{}:{}/{}", self.system, host, port, self.name)
            }
            None => write!(f, "rakt://{}/{}", self.system, self.name),
        }
    }
}

impl FromStr for Address {
    type Err = AddressError;

    /// Parses `rakt://system/name` or `rakt://system@host:port/name`. The system and actor
    /// names follow [`validate_name`]; the host is a host name or IPv4 address
    /// (`[a-zA-Z0-9.-]`, at most 253 bytes, not starting with `-` or `.`) or an IPv6 address
    /// in brackets; the port is 1 to 65535.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let owned = || text.to_owned();
        let rest = text
            .strip_prefix("rakt://")
            .ok_or_else(|| AddressError::MissingScheme { address: owned() })?;
        let (authority, name) = rest
            .split_once('/')
            .ok_or_else(|| AddressError::MissingName { address: owned() })?;
        validate_name(name).map_err(|source| match source {
            NameError::Empty => AddressError::MissingName { address: owned() },
            source => AddressError::InvalidName {
                address: owned(),
                source,
            },
        })?;
        let (system, location) = match authority.split_once('@') {
            None => (authority, None),
            Some((system, location)) => (system, Some(parse_location(location, text)?)),
        };
        validate_name(system).map_err(|source| AddressError::InvalidSystem {
            address: owned(),
            source,
        })?;
        Ok(Self {
            system: system.into(),
            location,
            name: name.into(),
        })
    }
}

/// The `host:port` of an address, `[v6]:port` for an IPv6 host.
fn parse_location(location: &str, address: &str) -> Result<Location, AddressError> {
    let host_error = |reason| AddressError::InvalidHost {
        address: address.to_owned(),
        reason,
    };
    let (host, port) = if let Some(bracketed) = location.strip_prefix('[') {
        let (v6, after) = bracketed
            .split_once(']')
            .ok_or_else(|| host_error("an IPv6 host lacks its closing bracket"))?;
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(host_error("the bracketed host is not an IPv6 address"));
        }
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| AddressError::InvalidPort {
                address: address.to_owned(),
                reason: "it is missing",
            })?;
        (v6, port)
    } else {
        let (host, port) = location
            .rsplit_once(':')
            .ok_or_else(|| AddressError::InvalidPort {
                address: address.to_owned(),
                reason: "it is missing",
            })?;
        if host.contains(':') {
            return Err(host_error("an IPv6 host must be in brackets"));
        }
        validate_host(host).map_err(host_error)?;
        (host, port)
    };
    Ok(Location {
        host: host.into(),
        port: parse_port(port).map_err(|reason| AddressError::InvalidPort {
            address: address.to_owned(),
            reason,
        })?,
    })
}

fn validate_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("it is empty");
    }
    if host.len() > 253 {
        return Err("it is longer than 253 bytes");
    }
    if host.starts_with(['-', '.']) {
        return Err("it starts with '-' or '.'");
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
    {
        return Err("it has a character other than letters, digits, '-' and '.'");
    }
    Ok(())
}

fn parse_port(port: &str) -> Result<u16, &'static str> {
    if port.is_empty() {
        return Err("it is missing");
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err("it is not a number");
    }
    match port.parse::<u16>() {
        Ok(0) => Err("port 0 names no listener"),
        Ok(port) => Ok(port),
        Err(_) => Err("it is above 65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_charset() {
        for good in ["a", "A9", "node.1", "a_b-c", &"x".repeat(255)] {
            assert!(validate_name(good).is_ok(), "{good} should be valid");
        }
        assert_eq!(
            validate_name(&"x".repeat(256)),
            Err(NameError::TooLong { len: 256 })
        );
        for bad in ["_a", ".a", "a/b", "a b", "é", "a\n"] {
            assert!(validate_name(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let addr = Address::remote("s", "::1", 9, "a");
        assert_eq!(addr.to_string(), "rakt://s@[::1]:9/a");
    }

    #[test]
    fn parsing_reverses_display() {
        let addresses = [
            Address::local("shop", "cart-7"),
            Address::remote("shop", "10.0.0.5", 4000, "cart-7"),
            Address::remote("shop.eu", "node-1.cluster.local", 1, "a_b.c"),
            Address::remote("s", "::1", 65535, "a"),
            Address::remote("s", "fe80::1:2", 80, "a"),
        ];
        for address in addresses {
            let text = address.to_string();
            assert_eq!(text.parse::<Address>(), Ok(address), "{text}");
        }
    }

    #[test]
    fn every_part_is_checked_with_a_typed_error() {
        type Check = fn(&AddressError) -> bool;
        let cases: [(&str, Check); 16] = [
            ("shop/cart", |e| {
                matches!(e, AddressError::MissingScheme { .. })
            }),
            ("RAKT://shop/cart", |e| {
                matches!(e, AddressError::MissingScheme { .. })
            }),
            ("rakt://shop", |e| {
                matches!(e, AddressError::MissingName { .. })
            }),
            ("rakt://shop/", |e| {
                matches!(e, AddressError::MissingName { .. })
            }),
            ("rakt://shop/a/b", |e| {
                matches!(e, AddressError::InvalidName { .. })
            }),
            ("rakt:///cart", |e| {
                matches!(e, AddressError::InvalidSystem { .. })
            }),
            ("rakt://-shop/cart", |e| {
                matches!(e, AddressError::InvalidSystem { .. })
            }),
            ("rakt://shop@:80/cart", |e| {
                matches!(e, AddressError::InvalidHost { .. })
            }),
            ("rakt://shop@::1:80/cart", |e| {
                matches!(e, AddressError::InvalidHost { .. })
            }),
            ("rakt://shop@[::1/cart", |e| {
                matches!(e, AddressError::InvalidHost { .. })
            }),
            ("rakt://shop@[nope]:80/cart", |e| {
                matches!(e, AddressError::InvalidHost { .. })
            }),
            ("rakt://shop@a b:80/cart", |e| {
                matches!(e, AddressError::InvalidHost { .. })
            }),
            ("rakt://shop@host/cart", |e| {
                matches!(e, AddressError::InvalidPort { .. })
            }),
            ("rakt://shop@host:0/cart", |e| {
                matches!(e, AddressError::InvalidPort { .. })
            }),
            ("rakt://shop@host:65536/cart", |e| {
                matches!(e, AddressError::InvalidPort { .. })
            }),
            ("rakt://shop@host:+80/cart", |e| {
                matches!(e, AddressError::InvalidPort { .. })
            }),
        ];
        for (text, expected) in cases {
            let error = text.parse::<Address>().expect_err(text);
            assert!(expected(&error), "{text}: {error:?}");
            assert!(error.to_string().contains(&format!("{text:?}")), "{error}");
        }
    }

    #[test]
    fn mutated_addresses_never_panic_and_valid_ones_round_trip() {
        // A fixed-seed xorshift walk over single-byte mutations of valid addresses: bounded
        // (20,000 inputs) and the same on every run.
        let seeds = [
            "rakt://shop@10.0.0.5:4000/cart-7",
            "rakt://s@[::1]:9/a",
            "rakt://x/y",
        ];
        let alphabet = b"rakt:/@[]._-0123456789abcdefXYZ \x7f";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let mut bytes = seeds[round % seeds.len()].as_bytes().to_vec();
            for _ in 0..=(next() % 3) {
                let at = (next() as usize) % (bytes.len() + 1);
                let byte = alphabet[(next() as usize) % alphabet.len()];
                match next() % 3 {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, byte),
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(address) = text.parse::<Address>() {
                assert_eq!(
                    address.to_string().parse::<Address>(),
                    Ok(address),
                    "{text}"
                );
            }
        }
    }
}
