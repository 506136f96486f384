//! Conversions between the runtime's values and their wire form.

use std::time::Duration;

use rakt_actor::{AskError, Pid, SendError};
use rakt_proto::v1::{ActorRef, RemoteError as WireError, remote_error::Code};

/// An actor as other nodes see it.
pub(crate) fn actor_ref(pid: &Pid) -> ActorRef {
    ActorRef {
        address: pid.address().to_string(),
        id: pid.id(),
    }
}

/// An ask's failure on the answering node, for the wire.
pub(crate) fn ask_error_to_wire(error: &AskError, name: &str) -> WireError {
    let (code, detail) = match error {
        AskError::Send(SendError::NotFound { .. }) => (Code::NotFound, String::new()),
        AskError::Send(SendError::MailboxFull { .. } | SendError::MailboxTimeout { .. }) => {
            (Code::MailboxFull, String::new())
        }
        AskError::Send(SendError::ActorStopped { .. }) => (Code::ActorStopped, String::new()),
        AskError::Timeout { .. } => (Code::Timeout, String::new()),
        AskError::NoReply { .. } => (Code::NoReply, String::new()),
        AskError::Unhandled { .. } => (Code::Unhandled, String::new()),
        AskError::StashFull { .. } => (Code::StashFull, String::new()),
        AskError::HandlerFailed { error, .. } => (Code::HandlerFailed, error.clone()),
        other => (Code::Internal, other.to_string()),
    };
    WireError {
        code: code as i32,
        name: name.to_owned(),
        detail,
    }
}

/// A refusal for the wire: `code` about actor `name`, with `detail`.
pub(crate) fn refusal(code: Code, name: &str, detail: impl Into<String>) -> WireError {
    WireError {
        code: code as i32,
        name: name.to_owned(),
        detail: detail.into(),
    }
}

/// The asker's error for a failure reported by node `node`; `timeout` is the ask's.
pub(crate) fn wire_to_ask_error(error: WireError, node: &str, timeout: Duration) -> AskError {
    let name = error.name;
    let refused = |reason: String| {
        AskError::Send(SendError::Refused {
            node: node.to_owned(),
            name: name.clone(),
            reason,
        })
    };
    match Code::try_from(error.code).unwrap_or(Code::Unspecified) {
        Code::NotFound => AskError::Send(SendError::NotFound { name }),
        Code::MailboxFull => AskError::Send(SendError::MailboxFull { name }),
        Code::ActorStopped => AskError::Send(SendError::ActorStopped { name }),
        Code::Timeout => AskError::Timeout { name, timeout },
        Code::NoReply => AskError::NoReply { name },
        Code::Unhandled => AskError::Unhandled { name },
        Code::StashFull => AskError::StashFull { name },
        Code::HandlerFailed => AskError::HandlerFailed {
            name,
            error: error.detail,
        },
        Code::UnknownType => refused(format!("unknown message type {}", error.detail)),
        Code::Malformed | Code::InvalidArgument | Code::Internal | Code::Unspecified => {
            refused(error.detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ask_errors_survive_the_round_trip() {
        let cases = [
            AskError::Send(SendError::NotFound { name: "a".into() }),
            AskError::Send(SendError::MailboxFull { name: "a".into() }),
            AskError::Send(SendError::ActorStopped { name: "a".into() }),
            AskError::NoReply { name: "a".into() },
            AskError::Unhandled { name: "a".into() },
            AskError::StashFull { name: "a".into() },
            AskError::HandlerFailed {
                name: "a".into(),
                error: "boom".into(),
            },
            AskError::Timeout {
                name: "a".into(),
                timeout: Duration::from_secs(1),
            },
        ];
        for case in cases {
            let wire = ask_error_to_wire(&case, "a");
            let back = wire_to_ask_error(wire, "n", Duration::from_secs(1));
            assert_eq!(back.to_string(), case.to_string());
        }
    }

    #[test]
    fn an_unknown_code_is_a_refusal_not_a_panic() {
        let wire = WireError {
            code: 9999,
            name: "a".into(),
            detail: "from the future".into(),
        };
        let error = wire_to_ask_error(wire, "n", Duration::from_secs(1));
        assert!(matches!(error, AskError::Send(SendError::Refused { .. })));
    }
}
