//! Actor kinds and dependencies registered by name, so that a peer can ask this node to spawn
//! an actor (GoAkt's `RemoteSpawn`).
//!
//! A kind is a factory of actors plus the spawn options that cannot cross the wire, such as a
//! priority mailbox or a supervisor. A dependency is a factory keyed by the stable id of what
//! it makes: a spawn request names dependencies by id, and the node makes fresh ones.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rakt_actor::{
    Actor, ActorSystem, Dependency, MailboxConfig, Passivation, Pid, SpawnError, SpawnOptions,
};
use rakt_proto::v1::{
    MailboxSpec, PassivationSpec, SpawnFailure, SpawnRequest, mailbox_spec, passivation_spec,
    spawn_failure::Reason,
};

use crate::error::RemoteError;

type SpawnFuture = Pin<Box<dyn Future<Output = Result<Pid, SpawnError>> + Send>>;

/// Spawns one actor of a kind.
type SpawnKind = Arc<dyn Fn(&ActorSystem, &str, SpawnOptions) -> SpawnFuture + Send + Sync>;

/// Adds a fresh dependency to the options; fails when the factory made one of another id.
type AddDependency = Arc<dyn Fn(SpawnOptions) -> Result<SpawnOptions, String> + Send + Sync>;

struct Kind {
    spawn: SpawnKind,
    options: SpawnOptions,
}

/// The kinds and dependencies of one node.
#[derive(Clone, Default)]
pub(crate) struct Kinds {
    kinds: HashMap<String, Arc<Kind>>,
    dependencies: HashMap<String, AddDependency>,
}

impl fmt::Debug for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds: Vec<&str> = self.kinds.keys().map(String::as_str).collect();
        kinds.sort_unstable();
        let mut dependencies: Vec<&str> = self.dependencies.keys().map(String::as_str).collect();
        dependencies.sort_unstable();
        f.debug_struct("Kinds")
            .field("kinds", &kinds)
            .field("dependencies", &dependencies)
            .finish()
    }
}

impl Kinds {
    pub(crate) fn add_kind<A: Actor>(
        &mut self,
        name: String,
        factory: impl Fn() -> A + Send + Sync + 'static,
        options: SpawnOptions,
    ) {
        let factory = Arc::new(factory);
        let spawn: SpawnKind = Arc::new(move |system, name, options| {
            let system = system.clone();
            let name = name.to_owned();
            let factory = factory.clone();
            Box::pin(async move {
                system
                    .spawn_factory(&name, move || factory(), options)
                    .await
            })
        });
        self.kinds.insert(name, Arc::new(Kind { spawn, options }));
    }

    pub(crate) fn add_dependency<D: Dependency>(
        &mut self,
        id: String,
        factory: impl Fn() -> D + Send + Sync + 'static,
    ) {
        let expected = id.clone();
        let add: AddDependency = Arc::new(move |options: SpawnOptions| {
            let dependency = factory();
            if dependency.id() != expected {
                return Err(format!(
                    "the factory registered for dependency {expected:?} made one with the id {:?}",
                    dependency.id()
                ));
            }
            Ok(options.dependency(dependency))
        });
        self.dependencies.insert(id, add);
    }

    /// Checks the registrations: no empty names or ids.
    pub(crate) fn validate(&self) -> Result<(), RemoteError> {
        if self.kinds.contains_key("") {
            return Err(RemoteError::InvalidConfig {
                field: "kind",
                reason: "a kind needs a non-empty name".into(),
            });
        }
        if self.dependencies.contains_key("") {
            return Err(RemoteError::InvalidConfig {
                field: "dependency",
                reason: "a dependency needs a non-empty id".into(),
            });
        }
        Ok(())
    }

    /// Spawns what `request` asks for on `system`.
    pub(crate) async fn spawn(
        &self,
        system: &ActorSystem,
        request: SpawnRequest,
    ) -> Result<Pid, SpawnFailure> {
        let kind = self
            .kinds
            .get(&request.kind)
            .ok_or_else(|| failure(Reason::UnknownKind, request.kind.clone()))?;
        let mut options = kind.options.clone();
        if let Some(mailbox) = request.mailbox {
            let mailbox =
                mailbox_from_wire(mailbox).map_err(|reason| failure(Reason::Invalid, reason))?;
            options = options.mailbox(mailbox);
        }
        if let Some(passivation) = request.passivation {
            let passivation = passivation_from_wire(passivation)
                .map_err(|reason| failure(Reason::Invalid, reason))?;
            options = options.passivation(passivation);
        }
        if let Some(capacity) = request.stash_capacity {
            let capacity = usize::try_from(capacity)
                .map_err(|_| failure(Reason::Invalid, format!("stash capacity {capacity}")))?;
            options = options.stash_capacity(capacity);
        }
        if request.init_timeout_ms != 0 {
            options = options.init_timeout(Duration::from_millis(request.init_timeout_ms));
        }
        for id in &request.dependencies {
            let add = self
                .dependencies
                .get(id)
                .ok_or_else(|| failure(Reason::UnknownDependency, id.clone()))?;
            options = add(options).map_err(|reason| failure(Reason::Invalid, reason))?;
        }
        (kind.spawn)(system, &request.name, options)
            .await
            .map_err(|error| spawn_error_to_wire(&error))
    }
}

fn failure(reason: Reason, detail: impl Into<String>) -> SpawnFailure {
    SpawnFailure {
        reason: reason as i32,
        detail: detail.into(),
    }
}

fn spawn_error_to_wire(error: &SpawnError) -> SpawnFailure {
    let reason = match error {
        SpawnError::NameTaken { .. } => Reason::NameTaken,
        SpawnError::InvalidName(_)
        | SpawnError::InvalidMailbox { .. }
        | SpawnError::InvalidSupervisor { .. }
        | SpawnError::InvalidReentrancy { .. }
        | SpawnError::InvalidPassivation { .. }
        | SpawnError::InvalidStashCapacity { .. }
        | SpawnError::InvalidDependency { .. } => Reason::Invalid,
        _ => Reason::StartFailed,
    };
    failure(reason, error.to_string())
}

/// The error for a spawn that node `node` refused.
pub(crate) fn failure_to_error(
    node: &str,
    request: &SpawnRequest,
    failure: SpawnFailure,
) -> RemoteError {
    let node = node.to_owned();
    match Reason::try_from(failure.reason).unwrap_or(Reason::Unspecified) {
        Reason::UnknownKind => RemoteError::UnknownKind {
            node,
            kind: request.kind.clone(),
        },
        Reason::NameTaken => RemoteError::NameTaken {
            node,
            name: request.name.clone(),
        },
        Reason::UnknownDependency => RemoteError::UnknownDependency {
            node,
            id: failure.detail,
        },
        _ => RemoteError::SpawnFailed {
            node,
            name: request.name.clone(),
            reason: failure.detail,
        },
    }
}

/// Options for an actor spawned on another node by
/// [`Remoting::spawn`](crate::Remoting::spawn): what a spawn request can carry. Each
/// setting left alone takes the kind's options, then the node's defaults.
///
/// ```
/// use std::time::Duration;
/// use rakt_actor::{MailboxConfig, Passivation};
/// use rakt_remote::RemoteSpawnOptions;
///
/// let options = RemoteSpawnOptions::new()
///     .mailbox(MailboxConfig::NonBlockingBounded { capacity: 1024 })
///     .passivation(Passivation::AfterIdle(Duration::from_secs(120)))
///     .dependency("prices");
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
pub struct RemoteSpawnOptions {
    mailbox: Option<MailboxConfig>,
    passivation: Option<Passivation>,
    stash_capacity: Option<usize>,
    init_timeout: Option<Duration>,
    dependencies: Vec<String>,
}

impl RemoteSpawnOptions {
    /// Options that take everything from the kind and the node.
    pub fn new() -> Self {
        Self::default()
    }

    /// The actor's mailbox. A priority mailbox orders messages with a function, which cannot
    /// cross the wire: the spawn then fails with [`RemoteError::SpawnFailed`]; give it to the
    /// kind where it is registered instead.
    pub fn mailbox(mut self, mailbox: MailboxConfig) -> Self {
        self.mailbox = Some(mailbox);
        self
    }

    /// When the actor passivates.
    pub fn passivation(mut self, passivation: Passivation) -> Self {
        self.passivation = Some(passivation);
        self
    }

    /// Gives the actor a stash of `capacity` messages.
    pub fn stash_capacity(mut self, capacity: usize) -> Self {
        self.stash_capacity = Some(capacity);
        self
    }

    /// How long `pre_start` may take, all attempts together.
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = Some(timeout);
        self
    }

    /// Injects the dependency of this stable id, made fresh on the node by the factory
    /// registered there with
    /// [`RemotingBuilder::dependency`](crate::RemotingBuilder::dependency).
    pub fn dependency(mut self, id: impl Into<String>) -> Self {
        self.dependencies.push(id.into());
        self
    }

    /// The request that spawns `name` of `kind` with these options.
    pub(crate) fn request(&self, name: &str, kind: &str) -> Result<SpawnRequest, String> {
        Ok(SpawnRequest {
            name: name.to_owned(),
            kind: kind.to_owned(),
            mailbox: self.mailbox.as_ref().map(mailbox_to_wire).transpose()?,
            passivation: self.passivation.as_ref().map(passivation_to_wire),
            stash_capacity: self.stash_capacity.map(|capacity| capacity as u64),
            init_timeout_ms: self.init_timeout.map_or(0, millis),
            dependencies: self.dependencies.clone(),
        })
    }
}

/// Whole milliseconds, at least one, so that a short duration is not read as "the default".
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn mailbox_to_wire(mailbox: &MailboxConfig) -> Result<MailboxSpec, String> {
    use mailbox_spec::Kind;
    let kind = match mailbox {
        MailboxConfig::Unbounded => Kind::Unbounded(mailbox_spec::Unbounded {}),
        MailboxConfig::Bounded {
            capacity,
            push_timeout,
        } => Kind::Bounded(mailbox_spec::Bounded {
            capacity: *capacity as u64,
            push_timeout_ms: millis(*push_timeout),
        }),
        MailboxConfig::NonBlockingBounded { capacity } => {
            Kind::NonBlockingBounded(mailbox_spec::NonBlockingBounded {
                capacity: *capacity as u64,
            })
        }
        MailboxConfig::Fair => Kind::Fair(mailbox_spec::Fair {}),
        other => {
            return Err(format!(
                "a {other:?} mailbox cannot be sent to another node; register it with the kind"
            ));
        }
    };
    Ok(MailboxSpec { kind: Some(kind) })
}

fn mailbox_from_wire(mailbox: MailboxSpec) -> Result<MailboxConfig, String> {
    use mailbox_spec::Kind;
    let capacity = |capacity: u64| {
        usize::try_from(capacity).map_err(|_| format!("mailbox capacity {capacity}"))
    };
    Ok(match mailbox.kind {
        None | Some(Kind::Unbounded(_)) => MailboxConfig::Unbounded,
        Some(Kind::Bounded(bounded)) => MailboxConfig::Bounded {
            capacity: capacity(bounded.capacity)?,
            push_timeout: Duration::from_millis(bounded.push_timeout_ms),
        },
        Some(Kind::NonBlockingBounded(bounded)) => MailboxConfig::NonBlockingBounded {
            capacity: capacity(bounded.capacity)?,
        },
        Some(Kind::Fair(_)) => MailboxConfig::Fair,
    })
}

fn passivation_to_wire(passivation: &Passivation) -> PassivationSpec {
    use passivation_spec::Strategy;
    let strategy = match passivation {
        Passivation::AfterIdle(idle) => Strategy::AfterIdleMs(millis(*idle)),
        Passivation::AfterMessages(count) => Strategy::AfterMessages(*count),
        _ => Strategy::LongLived(passivation_spec::LongLived {}),
    };
    PassivationSpec {
        strategy: Some(strategy),
    }
}

fn passivation_from_wire(passivation: PassivationSpec) -> Result<Passivation, String> {
    use passivation_spec::Strategy;
    Ok(match passivation.strategy {
        None | Some(Strategy::LongLived(_)) => Passivation::LongLived,
        Some(Strategy::AfterIdleMs(millis)) => {
            Passivation::AfterIdle(Duration::from_millis(millis))
        }
        Some(Strategy::AfterMessages(count)) => Passivation::AfterMessages(count),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_through_the_wire() {
        let options = RemoteSpawnOptions::new()
            .mailbox(MailboxConfig::Bounded {
                capacity: 8,
                push_timeout: Duration::from_micros(10),
            })
            .passivation(Passivation::AfterMessages(3))
            .stash_capacity(4)
            .init_timeout(Duration::from_millis(1500))
            .dependency("db");
        let request = options.request("a", "k").expect("describable options");
        assert_eq!(request.init_timeout_ms, 1500);
        assert_eq!(request.dependencies, ["db"]);
        let mailbox = mailbox_from_wire(request.mailbox.expect("set")).expect("valid");
        assert!(matches!(
            mailbox,
            MailboxConfig::Bounded { capacity: 8, push_timeout } if push_timeout == Duration::from_millis(1)
        ));
        let passivation = passivation_from_wire(request.passivation.expect("set")).expect("valid");
        assert_eq!(passivation, Passivation::AfterMessages(3));
    }

    #[test]
    fn a_priority_mailbox_cannot_be_described() {
        let order = rakt_actor::MessageOrder::new(|_, _| std::cmp::Ordering::Equal);
        let options = RemoteSpawnOptions::new().mailbox(MailboxConfig::Priority(order));
        let error = options.request("a", "k").expect_err("not describable");
        assert!(error.contains("register it with the kind"), "{error}");
    }
}
