import threading

import numpy as np

from visualizer.handoff import LatestSlot, SampleRing


def test_ring_returns_samples_in_order_across_the_wrap():
    ring = SampleRing(10)
    out = []
    for k in range(7):
        ring.write(np.arange(k * 3, k * 3 + 3, dtype=np.float32))
        out.append(ring.read())
    np.testing.assert_array_equal(np.concatenate(out), np.arange(21))
    assert ring.dropped == 0


def test_ring_drops_the_oldest_when_the_reader_is_late():
    ring = SampleRing(8)
    for k in range(5):
        ring.write(np.arange(k * 4, k * 4 + 4, dtype=np.float32))
    np.testing.assert_array_equal(ring.read(), np.arange(12, 20))
    assert ring.dropped == 12
    ring.write(np.arange(100, 130, dtype=np.float32))  # a block larger than the ring
    np.testing.assert_array_equal(ring.read(), np.arange(122, 130))


def test_ring_with_a_concurrent_writer_loses_nothing_it_can_hold():
    ring = SampleRing(1 << 16)
    total = 256 * 800

    def writer():
        for start in range(0, total, 256):
            ring.write(np.arange(start, start + 256, dtype=np.float32))

    t = threading.Thread(target=writer)
    t.start()
    got = []
    while t.is_alive() or ring.written > sum(len(g) for g in got) + ring.dropped:
        got.append(ring.read())
    t.join()
    got.append(ring.read())
    data = np.concatenate(got)
    assert len(data) + ring.dropped == total
    assert np.all(np.diff(data) > 0)  # in order, never torn backwards


def test_latest_slot_keeps_only_the_newest():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.newest() == (0, None)
    for v in range(5):
        slot.put(v)
    assert slot.newest() == (5, 4)
    assert slot.wait_newer(5, timeout_s=0.01) == (5, 4)
    threading.Timer(0.05, slot.put, args=(9,)).start()
    assert slot.wait_newer(5, timeout_s=2.0) == (6, 9)
