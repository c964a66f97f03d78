"""An MQTT 5 requester, as a paho-mqtt (or FastStream) service asks a question: it
publishes a Python-style envelope with a response topic, correlation data, a
`traceparent` user property and a message expiry, and waits for the answer on its
response topic.

Usage: v5_requester.py HOST PORT TOPIC SECONDS
Prints one line `ANSWER {...}` (the answer's topic, payload, correlation data in hex,
content type and user properties) or `NO ANSWER` after SECONDS.
"""

import json
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CORRELATION = b"\x00py5-corr\xff"


def main() -> int:
    host, port, topic, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    response_topic = f"py5/replies/{uuid.uuid4().hex}"
    request_id = uuid.uuid4().hex
    subscribed = threading.Event()
    answered = threading.Event()
    answer = {}

    def on_connect(client, _userdata, _flags, reason_code, _properties):
        if reason_code.is_failure:
            print(f"CONNECT FAILED {reason_code}", flush=True)
            return
        client.subscribe(response_topic, qos=1)

    def on_subscribe(_client, _userdata, _mid, _reason_codes, _properties):
        subscribed.set()

    def on_message(_client, _userdata, message):
        props = message.properties
        answer.update(
            topic=message.topic,
            payload=json.loads(message.payload),
            correlation=getattr(props, "CorrelationData", b"").hex(),
            content_type=getattr(props, "ContentType", None),
            user_properties=[list(p) for p in getattr(props, "UserProperty", [])],
        )
        answered.set()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"py5-requester-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    if not subscribed.wait(10):
        print("NOT SUBSCRIBED", flush=True)
        return 1

    properties = Properties(PacketTypes.PUBLISH)
    properties.ResponseTopic = response_topic
    properties.CorrelationData = CORRELATION
    properties.UserProperty = [("traceparent", TRACEPARENT)]
    properties.MessageExpiryInterval = 30
    properties.ContentType = "application/json"
    envelope = {
        "id": request_id,
        "type": "question",
        "ts": time.time(),
        "source": "py5-requester",
        "data": {"text": "ping"},
    }
    client.publish(topic, json.dumps(envelope), qos=1, properties=properties)
    if answered.wait(seconds):
        answer["request_id"] = request_id
        answer["expected_correlation"] = CORRELATION.hex()
        print("ANSWER " + json.dumps(answer), flush=True)
    else:
        print("NO ANSWER", flush=True)
    client.loop_stop()
    client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
