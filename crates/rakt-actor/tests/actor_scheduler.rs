//! The scheduler: one-off, interval and cron schedules, their handles, and what happens when
//! the target restarts or stops. Time is tokio's paused clock, so nothing sleeps for real.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rakt_actor::{
    ActorSystem, Clock, Context, DeadLetterReason, Event, FnActor, Pid, ScheduleError, ScheduleKind,
};
use support::{Ping, next_event};
use tokio::time::Instant;

/// When each ping arrived, on tokio's clock and on the system's wall clock.
type Arrivals = Arc<Mutex<Vec<(Instant, SystemTime)>>>;

async fn recorder(system: &ActorSystem, name: &str) -> (Pid, Arrivals) {
    let arrivals = Arrivals::default();
    let seen = arrivals.clone();
    let clock = system.clone();
    let pid = system
        .spawn(
            name,
            FnActor::new(move |ctx: &mut Context<'_, FnActor>| {
                if ctx.is::<Ping>() {
                    seen.lock().push((Instant::now(), clock.now()));
                }
                Ok(())
            }),
        )
        .await
        .expect("spawn");
    (pid, arrivals)
}

/// Offsets from `start` of the arrivals so far, in whole milliseconds.
fn offsets(arrivals: &Arrivals, start: Instant) -> Vec<u64> {
    arrivals
        .lock()
        .iter()
        .map(|(at, _)| at.duration_since(start).as_millis() as u64)
        .collect()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[tokio::test(start_paused = true)]
async fn a_one_off_fires_once_after_its_delay() {
    let system = ActorSystem::builder("once").build().expect("system");
    let (pid, arrivals) = recorder(&system, "r").await;
    let start = Instant::now();
    let once = system
        .schedule_once(&pid, Ping { n: 1 }, secs(10))
        .expect("schedule");
    tokio::time::sleep(secs(9)).await;
    assert!(arrivals.lock().is_empty());
    tokio::time::sleep(secs(30)).await;
    assert_eq!(offsets(&arrivals, start), vec![10_000]);
    assert!(once.info().is_none(), "a fired one-off is gone");
    assert_eq!(
        once.cancel(),
        Err(ScheduleError::NotFound { id: once.id() })
    );
    system.stop().await.expect("stop");
}

#[tokio::test(start_paused = true)]
async fn an_interval_fires_at_a_fixed_rate_and_pauses_resumes_and_cancels() {
    let system = ActorSystem::builder("interval").build().expect("system");
    let (pid, arrivals) = recorder(&system, "r").await;
    let start = Instant::now();
    let tick = system
        .schedule_interval(&pid, Ping { n: 1 }, secs(5))
        .expect("schedule");
    tokio::time::sleep(secs(16)).await;
    assert_eq!(offsets(&arrivals, start), vec![5_000, 10_000, 15_000]);

    // Paused at 16 s, 4 s before the next tick.
    tick.pause().expect("pause");
    let info = tick.info().expect("live");
    assert!(info.paused && info.next_in.is_none() && info.fired == 3);
    tokio::time::sleep(secs(20)).await;
    assert_eq!(arrivals.lock().len(), 3, "nothing while paused");
    tick.resume().expect("resume");
    tokio::time::sleep(secs(10)).await;
    assert_eq!(
        offsets(&arrivals, start),
        vec![5_000, 10_000, 15_000, 40_000, 45_000],
        "the 4 s that were left, then every 5 s"
    );

    tick.cancel().expect("cancel");
    tokio::time::sleep(secs(60)).await;
    assert_eq!(arrivals.lock().len(), 5);
    assert!(system.schedules().is_empty());
    system.stop().await.expect("stop");
}

/// 2026-01-01T00:00:00Z plus `secs`.
fn new_year_plus(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600 + secs)
}

#[tokio::test(start_paused = true)]
async fn a_cron_schedule_fires_at_the_instants_it_names() {
    // 00:07:30 on New Year's Day.
    let system = ActorSystem::builder("cron")
        .clock(Clock::manual(new_year_plus(450)))
        .build()
        .expect("system");
    let (pid, arrivals) = recorder(&system, "r").await;
    let start = Instant::now();
    let quarterly = system
        .schedule_cron(&pid, Ping { n: 1 }, "0 */15 * * * ?")
        .expect("schedule");
    tokio::time::sleep(secs(45 * 60)).await;
    // 00:15, 00:30 and 00:45: 7.5, 22.5 and 37.5 minutes after the start.
    assert_eq!(
        offsets(&arrivals, start),
        vec![450_000, 1_350_000, 2_250_000]
    );
    let walls: Vec<SystemTime> = arrivals.lock().iter().map(|(_, wall)| *wall).collect();
    let expected = [900, 1800, 2700].map(new_year_plus);
    for (wall, expected) in walls.iter().zip(expected) {
        let off = wall
            .duration_since(expected)
            .unwrap_or_else(|early| early.duration());
        assert!(
            off < Duration::from_millis(5),
            "fired at {wall:?}, due {expected:?}"
        );
    }
    assert!(matches!(
        quarterly.info().map(|info| info.kind),
        Some(ScheduleKind::Cron { .. })
    ));
    system.stop().await.expect("stop");
}

#[tokio::test(start_paused = true)]
async fn a_cron_schedule_with_a_year_ends_after_its_last_instant() {
    // One minute before 2027.
    let system = ActorSystem::builder("cron-year")
        .clock(Clock::manual(new_year_plus(365 * 86_400 - 60)))
        .build()
        .expect("system");
    let (pid, arrivals) = recorder(&system, "r").await;
    let start = Instant::now();
    let passed = system.schedule_cron(&pid, Ping { n: 1 }, "0 0 0 1 1 ? 2026");
    assert!(matches!(passed, Err(ScheduleError::NeverFires { .. })));
    let once = system
        .schedule_cron(&pid, Ping { n: 1 }, "0 0 0 1 1 ? 2027")
        .expect("schedule");
    tokio::time::sleep(secs(120)).await;
    assert_eq!(offsets(&arrivals, start), vec![60_000]);
    assert!(once.info().is_none());
    system.stop().await.expect("stop");
}

#[tokio::test(start_paused = true)]
async fn a_schedule_survives_its_targets_restart() {
    let system = ActorSystem::builder("restart").build().expect("system");
    let (pid, arrivals) = recorder(&system, "r").await;
    system
        .schedule_interval(&pid, Ping { n: 1 }, secs(1))
        .expect("schedule");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(arrivals.lock().len(), 2);
    pid.restart().await.expect("restart");
    tokio::time::sleep(secs(2)).await;
    assert_eq!(arrivals.lock().len(), 4, "still firing after the restart");
    system.stop().await.expect("stop");
}

#[tokio::test(start_paused = true)]
async fn a_schedule_to_a_stopped_actor_dead_letters_and_ends() {
    let system = ActorSystem::builder("stopped").build().expect("system");
    let (pid, arrivals) = recorder(&system, "r").await;
    let mut events = system.subscribe();
    let tick = system
        .schedule_interval(&pid, Ping { n: 1 }, secs(1))
        .expect("schedule");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    pid.stop().await.expect("stop");
    tokio::time::sleep(secs(1)).await;
    let letter = next_event(&mut events, |e| matches!(e, Event::DeadLetter(_))).await;
    let Event::DeadLetter(letter) = letter else {
        unreachable!("matched a dead letter")
    };
    assert_eq!(letter.reason(), DeadLetterReason::ActorStopped);
    assert!(letter.message().downcast_ref::<Ping>().is_some());
    assert!(tick.info().is_none(), "the schedule ended with its target");
    tokio::time::sleep(secs(5)).await;
    assert_eq!(
        system.dead_letter_count(),
        1,
        "one dead letter, then no more firing"
    );
    assert_eq!(arrivals.lock().len(), 1);

    let refused = system.schedule_once(&pid, Ping { n: 1 }, secs(1));
    assert!(matches!(refused, Err(ScheduleError::TargetStopped { ref name }) if name == "r"));
    system.stop().await.expect("stop");
}

#[tokio::test(start_paused = true)]
async fn schedules_are_listed_and_bad_ones_refused() {
    let system = ActorSystem::builder("list").build().expect("system");
    let (pid, _) = recorder(&system, "r").await;
    let once = system
        .schedule_once(&pid, Ping { n: 1 }, secs(30))
        .expect("once");
    let every = system
        .schedule_interval(&pid, Ping { n: 2 }, secs(5))
        .expect("every");
    every.pause().expect("pause");
    let listed = system.schedules();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, once.id());
    assert_eq!(listed[0].kind, ScheduleKind::Once { delay: secs(30) });
    assert_eq!(listed[0].next_in, Some(secs(30)));
    assert!(!listed[0].paused);
    assert_eq!(listed[1].target, pid);
    assert!(listed[1].paused);

    assert_eq!(
        system
            .schedule_interval(&pid, Ping { n: 1 }, Duration::ZERO)
            .unwrap_err(),
        ScheduleError::ZeroInterval
    );
    let bad = system
        .schedule_cron(&pid, Ping { n: 1 }, "0 0 25 * * ?")
        .unwrap_err();
    assert!(bad.to_string().contains("hour 25 is outside 0-23"), "{bad}");

    system.stop().await.expect("stop");
    assert!(system.schedules().is_empty());
    assert_eq!(
        system
            .schedule_once(&pid, Ping { n: 1 }, secs(1))
            .unwrap_err(),
        ScheduleError::SystemStopped
    );
}

#[tokio::test(start_paused = true)]
async fn delays_too_long_for_the_clock_are_accepted_and_never_fire() {
    let system = ActorSystem::builder("far").build().unwrap();
    let (pid, arrivals) = recorder(&system, "target").await;
    // `Instant + Duration::MAX` overflows; the schedule must neither panic nor fire.
    let once = system
        .schedule_once(&pid, Ping { n: 1 }, Duration::MAX)
        .unwrap();
    let every = system
        .schedule_interval(&pid, Ping { n: 2 }, Duration::MAX)
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(arrivals.lock().is_empty());
    assert_eq!(system.schedules().len(), 2);
    once.cancel().unwrap();
    every.cancel().unwrap();
    system.stop().await.unwrap();
}
