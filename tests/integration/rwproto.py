"""Prometheus remote write 1.0 bodies built in Python, for the integration
test and the push benchmark: a minimal protobuf encoder for
prometheus.WriteRequest and a snappy block *encoder* that emits only literal
chunks (valid snappy that any decoder accepts; no compression, which is
fine on loopback). Python has no snappy module, hence this.
"""
import struct


def varint(n):
    if n < 0:
        n += 1 << 64  # int64 as protobuf encodes it: ten bytes
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def label(name, value):
    return field_bytes(1, field_bytes(1, name.encode()) + field_bytes(2, value.encode()))


def sample(value, ts_ms):
    return field_bytes(2, varint(1 << 3 | 1) + struct.pack("<d", value) + varint(2 << 3 | 0) + varint(ts_ms))


def timeseries(labels, samples):
    """labels: dict (sent sorted by name, as the spec asks); samples: [(ts_ms, value)]."""
    body = b"".join(label(k, labels[k]) for k in sorted(labels))
    body += b"".join(sample(v, t) for t, v in samples)
    return field_bytes(1, body)


def write_request(series):
    """series: iterable of (labels dict, [(ts_ms, value)])."""
    return b"".join(timeseries(l, s) for l, s in series)


def snappy_literal(data):
    """Snappy block format, literals only: varint length, then chunks of at
    most 64 KiB each with a 1-, 2- or 3-byte literal tag."""
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2, n & 0xFF, n >> 8])
        out += chunk
    return bytes(out)


HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}
