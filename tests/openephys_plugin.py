"""The Open Ephys GUI's ZMQ Interface plugin's messages (v1.0), written from
its source (open-ephys-plugins/zmq-interface, Source/ZmqInterface.cpp:
sendData, sendSpikeEvent, sendEvent) for the test publishers: the envelope
frame, the JSON header as JUCE's JSON::toString writes it, the payload."""
import struct


def juce(value, indent=0):
    """JSON::toString(var) with its defaults: not all on one line, CRLF line
    ends (JUCE's newLine), two-space indent, properties in insertion order,
    integral doubles with a ".0"."""
    nl, pad, inner = "\r\n", " " * indent, " " * (indent + 2)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [inner + '"%s": %s' % (k, juce(v, indent + 2)) for k, v in value.items()]
        return "{" + nl + ("," + nl).join(items) + nl + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [inner + juce(v, indent + 2) for v in value]
        return "[" + nl + ("," + nl).join(items) + nl + pad + "]"
    if isinstance(value, str):
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(value, float):
        return repr(value) if value != int(value) else "%d.0" % value
    return str(int(value))


def header(num, body, millis):
    """message_num first, then the message's own properties, then timestamp
    (Time::currentTimeMillis), in the order the plugin sets them."""
    h = {"message_num": num}
    h.update(body)
    h["timestamp"] = millis
    return juce(h).encode()


def data_body(stream, sample_num, num_samples, rate, channel=0):
    return {"type": "data", "content": {
        "stream": stream, "channel_num": channel, "channel_name": "CH%d" % (channel + 1),
        "num_samples": num_samples, "sample_num": sample_num, "sample_rate": float(rate)},
        "data_size": num_samples * 4}


def spike_body(stream, electrode, sample_num, sorted_id, channels=4, samples=40):
    return {"type": "spike", "spike": {
        "stream": stream, "source_node": 104, "electrode": electrode,
        "sample_num": sample_num, "num_channels": channels, "num_samples": samples,
        "sorted_id": sorted_id, "threshold": [-50.0] * channels}}


def ttl_body(stream, sample_num):
    return {"type": "event", "content": {
        "stream": stream, "source_node": 104, "type": 3, "sample_num": sample_num},
        "data_size": 10}


def ttl_payload(line, state, word):
    """A TTL event's 10 data bytes: line, state, the word of all lines' states."""
    return struct.pack("<BBQ", line, state, word)


DATA, EVENT = b"DATA\0", b"EVENT\0"
