"""A Rakt node driven from Python, as a client in another language drives one.

`crates/rakt-remote/tests/python_interop.rs` starts the node and runs this script with the
interpreter named by `RAKT_PYTHON`, which needs grpcio and grpcio-tools (`cargo xtask ci`
provisions one).
The script compiles the repository's `.proto` files with `grpc_tools.protoc` into a temporary
folder, the same files the Rust code is generated from, and then calls the unary methods of
`rakt.v1.RemoteService` over a plain-text channel: `Lookup`, `Tell` and `Ask`.

The node runs two actors, both handling `rakt.v1.StatusFailure`, whose one field is a text:

- `echo` answers with the text prefixed by "echo: ", and fails its handler for the text "fail";
- `recorder` keeps every text for the Rust side and never answers.

The Rust side then checks that the recorder got "tell 0" to "tell N-1" and then "unanswered",
in that order and nothing else.

Exit status: 0 when every check passed; 1 when some failed, each one named on standard error;
2 when the script could not run its checks at all.
"""

import argparse
import importlib.resources
import pathlib
import sys
import tempfile

# How long any one call may take, in seconds.
CALL_TIMEOUT = 10
# The timeout the asks carry, in milliseconds.
ASK_TIMEOUT_MS = 5000
# A message type the node never registered.
UNKNOWN_TYPE = "interop.v1.Unknown"


class SetupError(Exception):
    """The checks cannot run: say why, and exit with status 2."""


class Checks:
    """Counts the checks that pass and keeps a line for each one that fails."""

    def __init__(self):
        self.passed = 0
        self.failures = []

    def equal(self, what, got, want):
        if got == want:
            self.passed += 1
        else:
            self.failures.append(f"{what}: got {got!r}, want {want!r}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="the node's port on 127.0.0.1")
    parser.add_argument(
        "--proto-dir", type=pathlib.Path, required=True, help="the repository's proto/"
    )
    parser.add_argument("--echo", required=True, help="the echo actor's address")
    parser.add_argument("--echo-id", type=int, required=True, help="the echo actor's incarnation")
    parser.add_argument("--recorder", required=True, help="the recorder actor's address")
    parser.add_argument(
        "--tells", type=int, required=True, help="how many texts to tell the recorder"
    )
    return parser.parse_args()


def import_grpc():
    try:
        import grpc
        from grpc_tools import protoc
    except ImportError as error:
        raise SetupError(
            f"{sys.executable} cannot import grpcio and grpcio-tools ({error}); "
            "run `cargo xtask ci`, which provisions a Python that can, "
            "or point RAKT_PYTHON at one"
        ) from error
    return grpc, protoc


def compile_protos(protoc, proto_dir, out_dir):
    """Generates the Python modules of every `.proto` file under `proto_dir` into `out_dir`."""
    files = sorted(str(path.relative_to(proto_dir)) for path in proto_dir.rglob("*.proto"))
    if not files:
        raise SetupError(f"no .proto files under {proto_dir}")
    # The well-known types, such as google/protobuf/timestamp.proto, ship with grpc_tools.
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"--proto_path={proto_dir}",
            f"--proto_path={well_known}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            *files,
        ]
    )
    if status != 0:
        raise SetupError(f"grpc_tools.protoc failed with status {status} on {', '.join(files)}")
    sys.path.insert(0, str(out_dir))


def name_of(address):
    """The actor's name: the last part of `rakt://system@host:port/name`."""
    return address.rsplit("/", 1)[-1]


def run(grpc, args):
    # Importable only once the protos are compiled.
    from rakt.v1 import actor_pb2, remote_pb2, remote_pb2_grpc

    checks = Checks()
    echo = name_of(args.echo)
    recorder = name_of(args.recorder)
    nobody = "nobody"
    text_type = actor_pb2.StatusFailure.DESCRIPTOR.full_name
    code_name = remote_pb2.RemoteError.Code.Name

    def text(receiver, words, timeout_ms=0):
        return remote_pb2.RemoteEnvelope(
            receiver=receiver,
            type_name=text_type,
            payload=actor_pb2.StatusFailure(error=words).SerializeToString(),
            timeout_ms=timeout_ms,
        )

    def unknown(receiver, timeout_ms=0):
        return remote_pb2.RemoteEnvelope(
            receiver=receiver, type_name=UNKNOWN_TYPE, payload=b"\x08\x01", timeout_ms=timeout_ms
        )

    def error_of(error):
        return (code_name(error.code), error.name)

    # A plain-text channel straight to the node, whatever proxy the environment names.
    channel = grpc.insecure_channel(
        f"127.0.0.1:{args.port}", options=[("grpc.enable_http_proxy", 0)]
    )
    try:
        grpc.channel_ready_future(channel).result(timeout=CALL_TIMEOUT)
    except grpc.FutureTimeoutError as error:
        raise SetupError(
            f"no connection to 127.0.0.1:{args.port} within {CALL_TIMEOUT} s"
        ) from error
    service = remote_pb2_grpc.RemoteServiceStub(channel)

    # Lookup: an actor that exists, and one that does not.
    found = service.Lookup(remote_pb2.LookupRequest(name=echo), timeout=CALL_TIMEOUT)
    checks.equal("lookup echo: found", found.HasField("actor"), True)
    checks.equal("lookup echo: address", found.actor.address, args.echo)
    checks.equal("lookup echo: id", found.actor.id, args.echo_id)
    missing = service.Lookup(remote_pb2.LookupRequest(name=nobody), timeout=CALL_TIMEOUT)
    checks.equal("lookup nobody: found", missing.HasField("actor"), False)

    # Tell: the recorder's texts over two requests, with three refused envelopes among the
    # first request's: a type the node does not know, an actor it does not have, and a payload
    # that does not decode as its type.
    texts = [f"tell {i}" for i in range(args.tells)]
    # The refusals go among the first half's texts, at indexes 2 to 4.
    half = len(texts) // 2
    first = [text(recorder, words) for words in texts[:half]]
    refusals = {
        2: (unknown(recorder), ("CODE_UNKNOWN_TYPE", recorder), UNKNOWN_TYPE),
        3: (text(nobody, "lost"), ("CODE_NOT_FOUND", nobody), None),
        4: (
            remote_pb2.RemoteEnvelope(
                receiver=recorder, type_name=text_type, payload=b"\x0a\x05ab"
            ),
            ("CODE_MALFORMED", recorder),
            None,
        ),
    }
    for index in sorted(refusals):
        first.insert(index, refusals[index][0])
    told = service.Tell(remote_pb2.TellRequest(envelopes=first), timeout=CALL_TIMEOUT)
    checks.equal("tell: refused indexes", [entry.index for entry in told.refused], sorted(refusals))
    for entry in told.refused:
        if entry.index not in refusals:
            continue
        _, want, detail = refusals[entry.index]
        checks.equal(f"tell: refusal of envelope {entry.index}", error_of(entry.error), want)
        if detail is not None:
            checks.equal(f"tell: detail of envelope {entry.index}", entry.error.detail, detail)
    second = [text(recorder, words) for words in texts[half:]]
    told = service.Tell(remote_pb2.TellRequest(envelopes=second), timeout=CALL_TIMEOUT)
    checks.equal("tell: second request refused", list(told.refused), [])

    # Ask: replies come back one per envelope, in order, each with its index as correlation id.
    asks = [
        (text(echo, "hello", ASK_TIMEOUT_MS), ("message", text_type, "echo: hello")),
        (
            text(echo, "fail", ASK_TIMEOUT_MS),
            ("error", "CODE_HANDLER_FAILED", echo, "asked to fail"),
        ),
        (text(nobody, "anyone?", ASK_TIMEOUT_MS), ("error", "CODE_NOT_FOUND", nobody, "")),
        (unknown(echo, ASK_TIMEOUT_MS), ("error", "CODE_UNKNOWN_TYPE", echo, UNKNOWN_TYPE)),
        (
            text(echo, "no timeout"),
            ("error", "CODE_INVALID_ARGUMENT", echo, "an ask needs a timeout_ms"),
        ),
        (text(recorder, "unanswered", ASK_TIMEOUT_MS), ("error", "CODE_NO_REPLY", recorder, "")),
        # After its failure the echo actor has restarted, and still answers.
        (text(echo, "again", ASK_TIMEOUT_MS), ("message", text_type, "echo: again")),
    ]
    asked = service.Ask(
        remote_pb2.AskRequest(envelopes=[envelope for envelope, _ in asks]), timeout=CALL_TIMEOUT
    )
    checks.equal("ask: number of replies", len(asked.replies), len(asks))
    for index, (reply, (_, want)) in enumerate(zip(asked.replies, asks, strict=False)):
        checks.equal(f"ask {index}: correlation id", reply.correlation_id, index)
        outcome = reply.WhichOneof("outcome")
        if outcome == "message":
            decoded = actor_pb2.StatusFailure.FromString(reply.message.payload)
            got = ("message", reply.message.type_name, decoded.error)
        elif outcome == "error":
            got = ("error", code_name(reply.error.code), reply.error.name, reply.error.detail)
        else:
            got = (outcome,)
        checks.equal(f"ask {index}: reply", got, want)

    channel.close()
    return checks


def main():
    args = parse_args()
    if args.tells < 4:
        print("interop: cannot run: --tells must be at least 4", file=sys.stderr)
        return 2
    try:
        grpc, protoc = import_grpc()
        with tempfile.TemporaryDirectory(prefix="rakt-interop-") as out_dir:
            compile_protos(protoc, args.proto_dir.resolve(), out_dir)
            try:
                checks = run(grpc, args)
            except grpc.RpcError as error:
                print(f"interop: FAILED a call: {error.code()}: {error.details()}", file=sys.stderr)
                return 1
    except SetupError as error:
        print(f"interop: cannot run: {error}", file=sys.stderr)
        return 2
    for failure in checks.failures:
        print(f"interop: FAILED {failure}", file=sys.stderr)
    print(f"interop: {checks.passed} checks passed, {len(checks.failures)} failed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
