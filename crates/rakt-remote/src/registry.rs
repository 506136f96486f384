//! The type registry: which protobuf names a node can decode.

use std::collections::HashMap;
use std::fmt;

use rakt_actor::{AnyMessage, Message};

use crate::error::DecodeError;

/// Decodes a payload of one registered type.
type Decoder = fn(&[u8]) -> Result<Box<dyn AnyMessage>, prost::DecodeError>;

fn decode_as<M: Message>(bytes: &[u8]) -> Result<Box<dyn AnyMessage>, prost::DecodeError> {
    Ok(Box::new(M::decode(bytes)?))
}

/// Maps a message's full protobuf name to its decoder.
///
/// A node decodes only the types it registered; a message of another type is refused with
/// [`DecodeError::UnknownType`], which names the type, and counted as a dead letter. Rakt's own
/// `rakt.v1` messages are always registered.
///
/// ```
/// use rakt_remote::TypeRegistry;
/// use rakt_proto::v1::StatusFailure;
///
/// let mut registry = TypeRegistry::new();
/// registry.register::<StatusFailure>();
/// let bytes = prost::Message::encode_to_vec(&StatusFailure { error: "hi".into() });
/// let decoded = registry.decode("rakt.v1.StatusFailure", &bytes)?;
/// assert_eq!(decoded.downcast_ref::<StatusFailure>().map(|m| m.error.as_str()), Some("hi"));
/// assert!(registry.decode("shop.v1.Unknown", &bytes).is_err());
/// # Ok::<(), rakt_remote::DecodeError>(())
/// ```
#[derive(Clone)]
pub struct TypeRegistry {
    decoders: HashMap<String, Decoder>,
}

impl TypeRegistry {
    /// A registry of Rakt's own messages.
    pub fn new() -> Self {
        use rakt_proto::v1;
        let mut registry = Self {
            decoders: HashMap::new(),
        };
        registry
            .register::<v1::PostStart>()
            .register::<v1::PoisonPill>()
            .register::<v1::Terminated>()
            .register::<v1::StatusFailure>()
            .register::<v1::DeadLetter>()
            .register::<v1::GetRoutees>()
            .register::<v1::Routees>()
            .register::<v1::AdjustRouterPoolSize>();
        registry
    }

    /// Registers `M` under its full protobuf name, replacing any decoder of that name.
    pub fn register<M: Message>(&mut self) -> &mut Self {
        self.decoders.insert(M::full_name(), decode_as::<M>);
        self
    }

    /// Whether a type of that full name is registered.
    pub fn contains(&self, type_name: &str) -> bool {
        self.decoders.contains_key(type_name)
    }

    /// Decodes `bytes` as the type named `type_name`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnknownType`] when the type is not registered, and
    /// [`DecodeError::Malformed`] when the bytes are not a valid message of that type.
    pub fn decode(
        &self,
        type_name: &str,
        bytes: &[u8],
    ) -> Result<Box<dyn AnyMessage>, DecodeError> {
        let decoder = self
            .decoders
            .get(type_name)
            .ok_or_else(|| DecodeError::UnknownType {
                type_name: type_name.to_owned(),
            })?;
        decoder(bytes).map_err(|error| DecodeError::Malformed {
            type_name: type_name.to_owned(),
            reason: error.to_string(),
        })
    }
}

impl Default for TypeRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TypeRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.decoders.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("TypeRegistry")
            .field("types", &names)
            .finish()
    }
}
