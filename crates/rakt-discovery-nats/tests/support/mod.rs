//! A real `nats-server` for the tests: started on 127.0.0.1 at a free port, stopped (and
//! restarted on the same port) by its handle, killed when the handle drops, even when a test
//! fails.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// Names the `nats-server` executable; `cargo xtask ci` sets it to the one it provisioned.
const SERVER_ENV: &str = "RAKT_NATS_SERVER";

pub struct NatsServer {
    pub port: u16,
    arguments: Vec<String>,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a server on a free port of 127.0.0.1, with `extra` arguments (such as
    /// credentials), and waits until it accepts connections.
    pub async fn start(extra: &[&str]) -> NatsServer {
        let port = free_port();
        let mut arguments: Vec<String> = ["-a", "127.0.0.1", "-p", &port.to_string()]
            .iter()
            .map(ToString::to_string)
            .collect();
        arguments.extend(extra.iter().map(ToString::to_string));
        let mut server = NatsServer {
            port,
            arguments,
            child: None,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server and waits until it has exited.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same port, and waits until it accepts connections.
    pub async fn restart(&mut self) {
        self.stop().await;
        let child = Command::new(executable())
            .args(&self.arguments)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot run {}: {error}. The NATS tests need nats-server: run `cargo xtask ci`, \
                     which installs it (Debian package nats-server) and sets {SERVER_ENV}, or \
                     install it and put it on PATH",
                    executable().display()
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {} within 10s",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn executable() -> PathBuf {
    std::env::var_os(SERVER_ENV)
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from("nats-server"), PathBuf::from)
}

/// A port of 127.0.0.1 nobody listens on now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("address").port()
}
