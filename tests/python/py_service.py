"""A Python service as the Python MQTTClient runs one, for the fleet tooling tests.

It registers the retained last will `lost` on system/health/CLIENT_ID, publishes a
retained health `ready`, sends a heartbeat every second on system/keepalive/CLIENT_ID,
and answers envelopes on py/echo with a `py.echoed` envelope on py/echo/reply whose id
is the request's (`correlate=request.id`). It has no manifest. On SIGTERM it publishes
health `shutdown` and disconnects.

Usage: py_service.py HOST PORT CLIENT_ID
Prints `READY` once its health is out.
"""

import json
import signal
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt


def envelope(event_type, data, source, correlate=None):
    return json.dumps({
        "id": correlate or uuid.uuid4().hex,
        "type": event_type,
        "ts": time.time(),
        "source": source,
        "data": data,
    })


def health(ok, event, source):
    return envelope("health.status", {
        "message_id": uuid.uuid4().hex, "ok": ok, "event": event, "timestamp": time.time(),
    }, source)


def main() -> int:
    host, port, client_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    health_topic = f"system/health/{client_id}"
    stop = threading.Event()
    connected = threading.Event()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.will_set(health_topic, health(False, "lost", client_id), qos=1, retain=True)

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe("py/echo", qos=1)
        client.publish(health_topic, health(True, "ready", client_id), qos=1, retain=True)
        connected.set()

    def on_message(client, userdata, msg):
        try:
            request = json.loads(msg.payload)
            reply = envelope("py.echoed", {"echo": request["data"]}, client_id, correlate=request["id"])
        except (ValueError, KeyError, TypeError):
            return
        client.publish("py/echo/reply", reply, qos=1)

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(host, port, keepalive=5)
    client.loop_start()
    if not connected.wait(10):
        print("not connected within 10 s", flush=True)
        return 1
    print("READY", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set():
        payload = json.dumps({"ok": True, "event": "heartbeat", "timestamp": time.time()})
        client.publish(f"system/keepalive/{client_id}", payload, qos=0)
        stop.wait(1.0)
    client.publish(health_topic, health(False, "shutdown", client_id), qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
