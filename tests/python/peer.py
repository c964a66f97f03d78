"""A Python TARS peer for the interop tests.

It mirrors the contracts of the Python stack (tars-core `contracts/envelope.py`,
`contracts/v1/health.py`, the client's heartbeat payload), all with
`extra="forbid"`, validates everything a tars service publishes, and behaves as a
Python service does: publishes envelopes with `Envelope.new(...)` and answers requests
with `correlate=request.id`.

Usage: peer.py HOST PORT CLIENT_ID SECONDS
Prints `READY` once subscribed, then one JSON line per message and a final summary
line `SUMMARY {...}`. Exits 1 if anything failed validation.
"""

import json
import sys
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import BaseModel, Field, ValidationError


class Envelope(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    type: str
    ts: float = Field(default_factory=time.time)
    source: str = "router"
    data: dict[str, Any]

    model_config = {"extra": "forbid"}

    @classmethod
    def new(cls, *, event_type, data, correlate=None, source="router"):
        return cls(id=correlate or uuid.uuid4().hex, type=event_type, data=data, source=source)


class HealthPing(BaseModel):
    message_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    ok: bool
    event: str | None = None
    err: str | None = None
    timestamp: float = Field(default_factory=time.time)

    model_config = {"extra": "forbid"}


class HeartbeatPayload(BaseModel):
    ok: bool = True
    event: str = "heartbeat"
    timestamp: float

    model_config = {"extra": "forbid"}


def main() -> int:
    host, port, client_id, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    summary = {"envelopes": 0, "health": [], "heartbeats": 0, "replies": 0, "failures": []}
    lock = threading.Lock()
    subscribed = threading.Event()

    def emit(record):
        print(json.dumps(record), flush=True)

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe([("interop/#", 1), (f"system/health/{client_id}", 1), (f"system/keepalive/{client_id}", 1)])

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        subscribed.set()

    def on_message(client, userdata, msg):
        topic = msg.topic
        with lock:
            try:
                if topic.startswith("system/keepalive/"):
                    HeartbeatPayload.model_validate_json(msg.payload)
                    summary["heartbeats"] += 1
                elif topic.startswith("system/health/"):
                    env = Envelope.model_validate_json(msg.payload)
                    assert env.type == "health.status", env.type
                    ping = HealthPing.model_validate(env.data)
                    summary["health"].append(ping.event)
                elif topic in ("interop/from-python", "interop/reply"):  # its own messages
                    return
                else:
                    env = Envelope.model_validate_json(msg.payload)
                    summary["envelopes"] += 1
                    if topic == "interop/request":
                        reply = Envelope.new(
                            event_type="interop.reply",
                            data={"answer": env.data.get("question", "") + "!"},
                            correlate=env.id,
                            source="py-peer",
                        )
                        client.publish("interop/reply", reply.model_dump_json(), qos=1)
                        summary["replies"] += 1
                emit({"topic": topic, "valid": True})
            except (ValidationError, AssertionError, ValueError) as exc:
                summary["failures"].append({"topic": topic, "error": str(exc)})
                emit({"topic": topic, "valid": False, "error": str(exc)})

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"py-peer-{uuid.uuid4().hex[:8]}")
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not subscribed.wait(10):
        print("SUMMARY " + json.dumps({"failures": ["not subscribed within 10 s"]}), flush=True)
        return 1
    greeting = Envelope.new(event_type="interop.greeting", data={"text": "hello from python"}, source="py-peer")
    client.publish("interop/from-python", greeting.model_dump_json(), qos=1)
    print("READY", flush=True)
    deadline = time.time() + seconds
    while time.time() < deadline:
        with lock:
            if "shutdown" in summary["health"]:
                break
        time.sleep(0.05)
    time.sleep(0.2)
    client.loop_stop()
    client.disconnect()
    print("SUMMARY " + json.dumps(summary), flush=True)
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
