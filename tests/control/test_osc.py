"""OSC in and out over real loopback UDP sockets."""

import socket
import time

import numpy as np
import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from visualizer.audio.features import FeatureTrack
from visualizer.control.commands import CommandQueue
from visualizer.control.osc import OscError, OscIn, OscOut, host_port


def message(address, *args):
    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


@pytest.fixture
def osc_in():
    errors, queue = [], CommandQueue()
    server = OscIn(0, queue, errors.append)
    server.start()
    yield server, queue, errors
    server.close()


def wait_for(predicate, timeout=2.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_messages_become_commands_and_answers_reach_the_sender(osc_in):
    server, queue, errors = osc_in
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(2.0)
        peer.sendto(message("/visualizer/set", "effects.zoom", 1.7), ("127.0.0.1", server.port))
        peer.sendto(message("/visualizer/freeze", 1), ("127.0.0.1", server.port))
        peer.sendto(message("/visualizer/scene/next"), ("127.0.0.1", server.port))
        commands = []
        assert wait_for(lambda: commands.extend(queue.drain()) or len(commands) == 3)
        assert [(c.name, c.args) for c in commands] == [("set", ("effects.zoom", 1.7)), ("freeze", (1,)),
                                                       ("scene-next", ())]
        commands[0].reply(True, "effects.zoom = 1.7")
        answer = OscPacket(peer.recvfrom(1024)[0]).messages[0].message
        assert answer.address == "/visualizer/ok" and answer.params == ["effects.zoom = 1.7"]


def test_malformed_and_unknown_messages_are_answered_and_reported(osc_in):
    server, queue, errors = osc_in
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.settimeout(2.0)
        for data in (b"#bundle\x00\x01", message("/visualizer/set", "effects.zoom"), message("/x")):
            peer.sendto(data, ("127.0.0.1", server.port))
            answer = OscPacket(peer.recvfrom(1024)[0]).messages[0].message
            assert answer.address == "/visualizer/error"
    assert len(errors) == 3 and "malformed" in errors[0] and "takes a key and a value" in errors[1]
    assert "unknown OSC address /x" in errors[2] and queue.drain() == []


def test_host_port_is_checked():
    assert host_port("9001") == ("127.0.0.1", 9001) and host_port("10.0.0.5:7000") == ("10.0.0.5", 7000)
    for bad in ("host", "host:0", "host:70000", ":x"):
        with pytest.raises(OscError):
            host_port(bad)


def test_osc_out_sends_each_onset_once_and_beats_with_tempo():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(0.2)
        out = OscOut(f"127.0.0.1:{sink.getsockname()[1]}")
        track = FeatureTrack.empty()
        rows = 4
        fields = {name: np.zeros((rows, *getattr(track, name).shape[1:]), getattr(track, name).dtype)
                  for name in track.__dataclass_fields__}
        fields["onset_time_s"][:] = np.nan
        fields["beat_time_s"][:] = np.nan
        fields["onset"][1:3] = 0.8      # one hit reported on row 1, raised again on row 2
        fields["onset_time_s"][1] = 0.01
        fields["beat"][3], fields["bar"][3], fields["bar_index"][3] = 1.0, 1.0, 5
        fields["tempo_bpm"][:], fields["tempo_confidence"][:] = 124.0, 0.9
        out.heard(FeatureTrack(**fields), [time.monotonic() - 0.01], time.monotonic())
        got = []
        try:
            while True:
                got += [m.message for m in OscPacket(sink.recvfrom(1024)[0]).messages]
        except (TimeoutError, socket.timeout):
            pass
        out.close()
    addresses = [m.address for m in got]
    assert addresses == ["/onset", "/beat", "/tempo", "/bar", "/levels"], addresses
    assert got[2].params == [124.0, pytest.approx(0.9)] and got[3].params == [5]
    p50, p95 = out.latency_ms()
    assert 9.0 < p50 < 100.0
