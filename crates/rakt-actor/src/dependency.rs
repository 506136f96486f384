//! Per-actor dependencies: values injected at spawn, kept across restarts.

use std::any::Any;
use std::sync::Arc;

/// A value an actor is spawned with, such as a client or a repository, reachable from its
/// handlers with [`Context::dependency`](crate::Context::dependency) and from `pre_start` with
/// [`LifecycleContext::dependency`](crate::LifecycleContext::dependency) (GoAkt's
/// `WithDependencies`).
///
/// Dependencies belong to the actor, not to one incarnation: a restart keeps them, so a
/// fresh state made by a factory finds them again in `pre_start`. Each carries an id that is
/// stable across processes, the same for the same dependency on every node, by which the
/// cluster will recreate it when it moves the actor to another node.
///
/// ```
/// use std::sync::Arc;
/// use rakt_actor::{Actor, ActorError, ActorSystem, Context, Dependency, SpawnOptions};
/// use rakt_proto::v1::PostStart;
///
/// struct Prices {
///     region: String,
/// }
///
/// impl Dependency for Prices {
///     fn id(&self) -> &str {
///         "prices"
///     }
/// }
///
/// struct Quoter;
///
/// impl Actor for Quoter {
///     async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
///         if ctx.is::<PostStart>() {
///             let prices = ctx.dependency::<Prices>().ok_or_else(|| ActorError::msg("no prices"))?;
///             assert_eq!(prices.region, "eu");
///         }
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let system = ActorSystem::builder("shop").build()?;
/// let options = SpawnOptions::new().dependency(Prices { region: "eu".into() });
/// let quoter = system.spawn_with("quoter", Quoter, options).await?;
/// assert_eq!(quoter.dependencies()[0].id(), "prices");
/// system.stop().await?;
/// # Ok(())
/// # }
/// ```
pub trait Dependency: Any + Send + Sync {
    /// The dependency's stable id: unique among one actor's dependencies, and the same on
    /// every node.
    fn id(&self) -> &str;
}

/// The first dependency of type `T` among `dependencies`.
pub(crate) fn find<T: Dependency>(dependencies: &[Arc<dyn Dependency>]) -> Option<Arc<T>> {
    dependencies.iter().find_map(|dependency| {
        let any: Arc<dyn Any + Send + Sync> = dependency.clone();
        any.downcast::<T>().ok()
    })
}

/// Checks the ids of dependencies given at spawn: none empty, none twice.
pub(crate) fn validate(dependencies: &[Arc<dyn Dependency>]) -> Result<(), String> {
    for (index, dependency) in dependencies.iter().enumerate() {
        let id = dependency.id();
        if id.is_empty() {
            return Err(format!("dependency {index} has an empty id"));
        }
        if dependencies[..index].iter().any(|other| other.id() == id) {
            return Err(format!("two dependencies have the id {id:?}"));
        }
    }
    Ok(())
}

impl std::fmt::Debug for dyn Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Dependency").field(&self.id()).finish()
    }
}
