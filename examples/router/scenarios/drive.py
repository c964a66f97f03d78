#!/usr/bin/env python3
"""Drives a router (the Python one or the Rust port) through the scenarios of
scenarios.json and records what it publishes.

Each scenario gets a mosquitto of its own on a free loopback port and a fresh router
process. The driver subscribes to everything, starts the router, waits for its
`system/health/router` announcement, publishes the scenario's inputs one by one, waits
for the router to settle, and keeps what the router published, normalised: random ids,
timestamps and the time of day are replaced by placeholders; ids that come from the
inputs are kept, since they show how the router correlates.

    drive.py --router "CMD" --record DIR     write DIR/<scenario>.json
    drive.py --router "CMD" --compare DIR    compare with DIR/<scenario>.json, exit 1 on a difference
    drive.py ... --only NAME                  one scenario
    drive.py --router "CMD" --conversation N measure N turns of a scripted conversation

Only loopback traffic; each scenario is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

HERE = Path(__file__).resolve().parent
# Topics the routers publish that are not the router's behaviour: the tars heartbeat and
# manifest (a tars service announces itself; the Python client does neither).
IGNORED = re.compile(r"^(system/keepalive/|system/services/)")
SETTLE = 1.0  # seconds of quiet after the last input
STEP_GAP = 0.25  # seconds between inputs, so that each is handled before the next


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_binary() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    sys.exit("mosquitto is not installed: apt-get install mosquitto")


def start_broker(workdir: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    # No Nagle delay on the broker side, so that latencies are the router's own.
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n")
    broker = subprocess.Popen(
        [mosquitto_binary(), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return broker, port
        except OSError:
            time.sleep(0.05)
    broker.kill()
    sys.exit(f"mosquitto did not listen on {port}")


class Recorder:
    """Everything published on the broker, with when it arrived."""

    def __init__(self, port: int) -> None:
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="scenario-driver")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        # The driver's own writes go out at once (no Nagle delay behind its PUBACKs).
        self.client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.subscribe("#", qos=1)
        self.client.loop_start()

    def _on_message(self, _client, _userdata, message) -> None:
        with self.lock:
            self.messages.append(
                {
                    "topic": message.topic,
                    "retain": bool(message.retain),
                    "payload": message.payload,
                    "at": time.monotonic(),
                }
            )

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> float:
        """Publishes at QoS 1 and waits for the broker's acknowledgement; returns when
        the publish was handed to the client."""
        handed = time.monotonic()
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)
        return handed

    def wait_for(self, topic: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if any(m["topic"] == topic for m in self.messages):
                    return True
            time.sleep(0.05)
        return False

    def settle(self, quiet: float, bound: float) -> None:
        """Waits until nothing arrived for `quiet` seconds (at most `bound`)."""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            with self.lock:
                last = self.messages[-1]["at"] if self.messages else 0.0
            if time.monotonic() - last >= quiet:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def stop(process: subprocess.Popen, recorder: Recorder, broker: subprocess.Popen) -> None:
    """Stops the router (SIGTERM, then SIGKILL after 10 s), the recorder and the broker."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    recorder.stop()
    broker.kill()
    broker.wait()


def envelope(step: dict) -> bytes:
    """The input of a step: an envelope of the step's type around its data, or, with
    `"bare": true`, the data alone."""
    if step.get("bare"):
        return json.dumps(step["data"]).encode()
    return json.dumps(
        {
            "id": step.get("id", step["data"].get("message_id", "input-" + step["type"])),
            "type": step["type"],
            "ts": 1700000000.0,
            "source": step.get("source", "scenario"),
            "data": step["data"],
        }
    ).encode()


class Normaliser:
    """Replaces what differs from run to run; keeps what came from the inputs."""

    RANDOM_ID = re.compile(r"^[0-9a-f]{32}$")
    PATTERNS = [
        (re.compile(r"^wake-ack-\d+$"), "wake-ack-<ms>"),
        (re.compile(r"^rt-[0-9a-f]{8}$"), "rt-<hex>"),
        (re.compile(r"^mv-[0-9a-f]{8}$"), "mv-<hex>"),
        (re.compile(r"^It is \d{1,2}:\d{2} [AP]M\.$"), "It is <time>."),
    ]

    def __init__(self, inputs: list[dict]) -> None:
        self.known: set = set()
        for step in inputs:
            self._collect(step.get("data"))
            if "id" in step:
                self.known.add(step["id"])

    def _collect(self, value) -> None:
        if isinstance(value, dict):
            for v in value.values():
                self._collect(v)
        elif isinstance(value, list):
            for v in value:
                self._collect(v)
        elif isinstance(value, (str, float, int)) and not isinstance(value, bool):
            self.known.add(value)

    def value(self, key: str, value):
        if isinstance(value, dict):
            return {k: self.value(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(key, v) for v in value]
        if key in ("ts", "timestamp") and isinstance(value, (int, float)) and value not in self.known:
            return "<ts>"
        if isinstance(value, str):
            if value in self.known:
                return value
            if self.RANDOM_ID.match(value):
                return "<id>"
            for pattern, placeholder in self.PATTERNS:
                if pattern.match(value):
                    return placeholder
        return value

    def message(self, message: dict) -> dict:
        try:
            body = json.loads(message["payload"])
        except ValueError:
            body = message["payload"].decode(errors="replace")
        body = self.value("", body)
        return {"topic": message["topic"], "retain": message["retain"], "payload": body}


def run_scenario(scenario: dict, router: list[str], verbose: bool) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="router-scenario-"))
    broker, port = start_broker(workdir)
    recorder = Recorder(port)
    env = dict(os.environ)
    env.update({"MQTT_URL": f"mqtt://127.0.0.1:{port}", "RUST_LOG": env.get("RUST_LOG", "warn")})
    env.update(scenario.get("env", {}))
    log = open(workdir / "router.log", "wb")
    process = subprocess.Popen(router, env=env, stdout=log, stderr=subprocess.STDOUT)
    inputs: list[dict] = []
    sent: list[tuple[str, bytes]] = []
    timings: list[dict] = []
    try:
        if not recorder.wait_for("system/health/router", 30):
            raise RuntimeError("the router did not announce system/health/router within 30 s")
        recorder.settle(0.5, 5)
        started = len(recorder.messages)
        for step in scenario["steps"]:
            if "sleep" in step:
                time.sleep(step["sleep"])
                continue
            payload = envelope(step)
            at = recorder.publish(step["topic"], payload, step.get("retain", False))
            inputs.append(step)
            sent.append((step["topic"], payload))
            timings.append({"topic": step["topic"], "at": at})
            time.sleep(step.get("gap", STEP_GAP))
        recorder.settle(SETTLE, 20)
        messages = recorder.messages[:]
        cpu = cpu_seconds(process.pid)
        rss = resident_kib(process.pid)
    finally:
        stop(process, recorder, broker)
        log.close()
        if verbose:
            sys.stderr.write((workdir / "router.log").read_text(errors="replace"))
        shutil.rmtree(workdir, ignore_errors=True)
    normaliser = Normaliser(inputs)
    published = []
    for index, message in enumerate(messages):
        if (message["topic"], message["payload"]) in sent or IGNORED.match(message["topic"]):
            continue
        entry = normaliser.message(message)
        entry["during"] = "start" if index < started else "scenario"
        published.append(entry)
    return {
        "name": scenario["name"],
        "published": published,
        "measured": {"cpu_seconds": cpu, "rss_kib": rss, "inputs": timings, "outputs": [
            {"topic": m["topic"], "at": m["at"]} for m in messages[started:]
        ]},
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(router: list[str], exchanges: int) -> dict:
    """A scripted conversation of `exchanges` turns against one router process: a wake,
    a transcript, a streamed answer of two sentences, and the full response. Returns the
    latency from `stt/final` to `llm/request` and from the last `llm/stream` delta to its
    `tts/say`, the router's CPU time over the conversation and its resident memory."""
    workdir = Path(tempfile.mkdtemp(prefix="router-measure-"))
    broker, port = start_broker(workdir)
    recorder = Recorder(port)
    env = dict(os.environ, MQTT_URL=f"mqtt://127.0.0.1:{port}", RUST_LOG="warn", LOG_LEVEL="WARNING")
    process = subprocess.Popen(router, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def arrival(topic: str, envelope_id: str, timeout: float = 5.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with recorder.lock:
                for m in recorder.messages:
                    if m["topic"] == topic and json.loads(m["payload"]).get("id") == envelope_id:
                        return m["at"]
            time.sleep(0.001)
        raise RuntimeError(f"no {topic} with id {envelope_id} within {timeout} s")

    def send(topic: str, event_type: str, data: dict) -> float:
        return recorder.publish(topic, envelope({"type": event_type, "data": data}))

    try:
        if not recorder.wait_for("system/health/router", 30):
            raise RuntimeError("the router did not start")
        for name in ("tars-tts", "tars-stt"):
            send(f"system/health/{name}", "health.status", {"message_id": f"h-{name}", "ok": True, "event": "ready", "timestamp": 1.0})
        recorder.settle(0.5, 5)
        cpu_before = cpu_seconds(process.pid)
        to_request, to_say = [], []
        for i in range(exchanges):
            send("wake/event", "wake.event", {"message_id": f"w-{i}", "type": "wake"})
            arrival("tts/say", f"w-{i}")
            sent = send("stt/final", "stt.final", {"message_id": f"s-{i}", "text": f"tell me about the number {i}", "utt_id": f"u-{i}", "ts": 1.0})
            to_request.append(arrival("llm/request", f"s-{i}") - sent)
            send("llm/stream", "llm.stream", {"message_id": f"d-{i}-1", "id": f"u-{i}", "seq": 1, "delta": f"The number {i} is a number. It comes", "done": False})
            arrival("tts/say", f"d-{i}-1")
            last = send("llm/stream", "llm.stream", {"message_id": f"d-{i}-2", "id": f"u-{i}", "seq": 2, "delta": " after the one before it.", "done": True})
            to_say.append(arrival("tts/say", f"d-{i}-2") - last)
            send("llm/response", "llm.response", {"message_id": f"r-{i}", "id": f"u-{i}", "reply": f"The number {i} is a number. It comes after the one before it."})
            with recorder.lock:
                recorder.messages.clear()
        recorder.settle(0.3, 5)
        cpu = cpu_seconds(process.pid) - cpu_before
        rss = resident_kib(process.pid)
    finally:
        stop(process, recorder, broker)
        shutil.rmtree(workdir, ignore_errors=True)
    ms = lambda values, q: round(percentile(values, q) * 1000, 2)
    return {
        "exchanges": exchanges,
        "stt_final_to_llm_request_ms": {"p50": ms(to_request, 0.5), "p99": ms(to_request, 0.99)},
        "last_delta_to_tts_say_ms": {"p50": ms(to_say, 0.5), "p99": ms(to_say, 0.99)},
        "cpu_seconds": round(cpu, 3),
        "cpu_ms_per_exchange": round(cpu * 1000 / exchanges, 3),
        "rss_kib": rss,
    }


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError):
        return None


def resident_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def compared(entries: list[dict]) -> dict[str, list]:
    """The published messages by topic, in order (topics are independent streams: the
    two clients interleave their start-up health differently)."""
    by_topic: dict[str, list] = {}
    for entry in entries:
        by_topic.setdefault(entry["topic"], []).append(
            {k: entry[k] for k in ("retain", "payload", "during")}
        )
    return by_topic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--router", required=True, help="the command that runs the router, as one string")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--conversation", type=int, metavar="N", help="measure a scripted conversation of N turns and print the figures")
    mode.add_argument("--record", type=Path, help="write the golden files into this folder")
    mode.add_argument("--compare", type=Path, help="compare with the golden files of this folder")
    parser.add_argument("--only", help="run only this scenario")
    parser.add_argument("--measure", type=Path, help="write CPU, memory and timings here")
    parser.add_argument("--verbose", action="store_true", help="print the router's log")
    args = parser.parse_args()

    if args.conversation:
        print(json.dumps(measure(shlex.split(args.router), args.conversation), indent=1))
        return 0
    scenarios = json.loads((HERE / "scenarios.json").read_text())["scenarios"]
    if args.only:
        scenarios = [s for s in scenarios if s["name"] == args.only]
        if not scenarios:
            print(f"error: no scenario named {args.only}", file=sys.stderr)
            return 2
    failures = 0
    measured = {}
    for scenario in scenarios:
        result = run_scenario(scenario, shlex.split(args.router), args.verbose)
        measured[scenario["name"]] = result["measured"]
        if args.record:
            args.record.mkdir(parents=True, exist_ok=True)
            golden = {"name": result["name"], "description": scenario["description"], "published": result["published"]}
            (args.record / f"{scenario['name']}.json").write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
            print(f"recorded {scenario['name']}: {len(result['published'])} messages")
            continue
        golden_path = args.compare / f"{scenario['name']}.json"
        expected = compared(json.loads(golden_path.read_text())["published"])
        actual = compared(result["published"])
        differences = []
        for topic in sorted(set(expected) | set(actual)):
            want, got = expected.get(topic, []), actual.get(topic, [])
            if want != got:
                differences.append(
                    f"  {topic}:\n    python: {json.dumps(want)}\n    rust:   {json.dumps(got)}"
                )
        if differences:
            failures += 1
            print(f"FAIL {scenario['name']}: {scenario['description']}\n" + "\n".join(differences))
        else:
            count = sum(len(v) for v in expected.values())
            print(f"ok   {scenario['name']}: {count} messages as the Python router published them")
    if args.measure:
        args.measure.write_text(json.dumps(measured, indent=1) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
