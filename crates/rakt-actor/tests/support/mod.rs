//! Messages and actors shared by the integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rakt_actor::{Actor, ActorError, Context, Event, Subscription};
use rakt_proto::v1::PostStart;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Ping {
    #[prost(uint64, tag = "1")]
    pub n: u64,
}

impl prost::Name for Ping {
    const NAME: &'static str = "Ping";
    const PACKAGE: &'static str = "test.v1";
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Pong {
    #[prost(uint64, tag = "1")]
    pub n: u64,
}

impl prost::Name for Pong {
    const NAME: &'static str = "Pong";
    const PACKAGE: &'static str = "test.v1";
}

/// Fails (error or panic) when it receives `Fail`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Fail {
    #[prost(bool, tag = "1")]
    pub panic: bool,
}

impl prost::Name for Fail {
    const NAME: &'static str = "Fail";
    const PACKAGE: &'static str = "test.v1";
}

/// Sleeps for `millis` inside the handler.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sleep {
    #[prost(uint64, tag = "1")]
    pub millis: u64,
}

impl prost::Name for Sleep {
    const NAME: &'static str = "Sleep";
    const PACKAGE: &'static str = "test.v1";
}

/// What a `Recorder` saw, in order.
pub type Log = Arc<Mutex<Vec<String>>>;

pub fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

/// Records every message and lifecycle call; answers `Ping` with `Pong`; fails on `Fail`;
/// sleeps on `Sleep`.
pub struct Recorder {
    pub log: Log,
    pub label: &'static str,
}

impl Recorder {
    pub fn new(log: &Log, label: &'static str) -> Self {
        Self {
            log: log.clone(),
            label,
        }
    }
}

impl Actor for Recorder {
    async fn pre_start(
        &mut self,
        _ctx: &mut rakt_actor::LifecycleContext<'_>,
    ) -> Result<(), ActorError> {
        self.log.lock().push(format!("{}:pre_start", self.label));
        Ok(())
    }

    async fn receive(&mut self, ctx: &mut Context<'_, Self>) -> Result<(), ActorError> {
        if ctx.is::<PostStart>() {
            self.log.lock().push(format!("{}:post_start", self.label));
        } else if let Some(ping) = ctx.message::<Ping>() {
            let n = ping.n;
            self.log.lock().push(format!("{}:ping{n}", self.label));
            ctx.respond(Pong { n });
        } else if let Some(fail) = ctx.message::<Fail>() {
            if fail.panic {
                panic!("asked to panic");
            }
            return Err(ActorError::msg("asked to fail"));
        } else if let Some(sleep) = ctx.message::<Sleep>() {
            let millis = sleep.millis;
            self.log.lock().push(format!("{}:sleeping", self.label));
            tokio::time::sleep(Duration::from_millis(millis)).await;
            self.log.lock().push(format!("{}:slept", self.label));
        } else if let Some(t) = ctx.message::<rakt_proto::v1::Terminated>() {
            let name = t.address.rsplit('/').next().unwrap_or_default().to_owned();
            self.log
                .lock()
                .push(format!("{}:terminated:{name}", self.label));
        } else {
            ctx.unhandled();
        }
        Ok(())
    }

    async fn post_stop(
        &mut self,
        _ctx: &mut rakt_actor::LifecycleContext<'_>,
    ) -> Result<(), ActorError> {
        self.log.lock().push(format!("{}:post_stop", self.label));
        Ok(())
    }
}

/// Waits (bounded) until `pred` holds for the log.
pub async fn wait_for(log: &Log, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        {
            let entries = log.lock();
            if pred(&entries) {
                return entries.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within 5 s; log: {:?}",
            log.lock()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits (bounded: 5 s) until `cond` holds, and says whether it did; the caller asserts what
/// it needs, so that a failure names the condition.
pub async fn eventually(cond: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

/// The next event matching `pred`, within 5 s.
pub async fn next_event(events: &mut Subscription, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) if pred(&event) => return event,
            Ok(Some(_)) => {}
            Ok(None) => panic!("event stream closed"),
            Err(_) => panic!("no matching event within 5 s"),
        }
    }
}
