//! Scheduled messages: a one-off reminder, a heartbeat at an interval, paused and resumed,
//! and a cron schedule, on a manual clock so the example runs in a blink.
//!
//! Run it with `cargo run --example scheduling`; it needs nothing installed.
//!
//! Tokio's clock is paused, and the system's wall clock is a manual one that follows it: the
//! example "waits" for an hour and a half of cron instants without waiting at all.

#![allow(clippy::print_stdout)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rakt_actor::{ActorSystem, Clock, Context, FnActor};

/// A note for the board.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Note {
    /// What it says.
    #[prost(string, tag = "1")]
    pub text: String,
}

impl prost::Name for Note {
    const NAME: &'static str = "Note";
    const PACKAGE: &'static str = "scheduling.v1";
}

fn note(text: &str) -> Note {
    Note { text: text.into() }
}

/// Hours, minutes and seconds of a UTC wall-clock instant.
fn clock_time(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3_600, secs / 60 % 60, secs % 60)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 2026-01-01T08:50:00Z.
    let start = UNIX_EPOCH + Duration::from_secs(1_767_225_600 + 8 * 3_600 + 50 * 60);
    let system = ActorSystem::builder("board")
        .clock(Clock::manual(start))
        .build()?;
    let wall = system.clone();
    let board = system
        .spawn(
            "board",
            FnActor::new(move |ctx: &mut Context<'_, FnActor>| {
                if let Some(note) = ctx.message::<Note>() {
                    println!("{} {}", clock_time(wall.now()), note.text);
                }
                Ok(())
            }),
        )
        .await?;

    system.schedule_once(
        &board,
        note("reminder: stand-up at nine"),
        Duration::from_secs(300),
    )?;
    let heartbeat =
        system.schedule_interval(&board, note("heartbeat"), Duration::from_secs(240))?;
    // Every half hour from nine to ten, on weekdays.
    system.schedule_cron(
        &board,
        note("half-hourly report"),
        "0 0/30 9-10 ? * MON-FRI",
    )?;

    tokio::time::sleep(Duration::from_secs(600)).await;
    heartbeat.pause()?;
    println!("{} heartbeat paused", clock_time(system.now()));
    tokio::time::sleep(Duration::from_secs(3_600)).await;
    heartbeat.resume()?;
    println!("{} heartbeat resumed", clock_time(system.now()));
    tokio::time::sleep(Duration::from_secs(590)).await;

    for schedule in system.schedules() {
        println!("pending: {} ({} fired)", schedule.kind, schedule.fired);
    }
    system.stop().await?;
    Ok(())
}
