//! Actor addresses (`rakt://system@host:port/name`) and name validation.

use std::fmt;
use std::sync::Arc;

use crate::error::NameError;

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
struct Location {
    host: Arc<str>,
    port: u16,
}

/// The address of an actor: its system, where the system listens (when it is reachable from
/// other nodes) and the actor's name.
///
/// Displayed as `rakt://system@host:port/name`, or `rakt://system/name` for a system without
/// a network location.
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

    pub(crate) fn from_parts(system: Arc<str>, name: Arc<str>) -> Self {
        Self {
            system,
            location: None,
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
}
