"""Links between stages: bounded always; live links drop the oldest and count it."""

import threading

import pytest

from streamer.pipeline.links import _POLL_S, END, DropLink, LinkClosed, LosslessLink


def test_latest_link_keeps_the_newest_and_counts_drops():
    link = DropLink(1)
    for i in range(5):
        link.put(i)
    assert link.get(0) == 4 and link.dropped == 4 and len(link) == 0
    assert link.get(0.01) is None


def test_drop_link_never_blocks_and_stays_bounded():
    link = DropLink(3)
    for i in range(1000):
        link.put(i)
    assert len(link) == 3 and link.dropped == 997
    assert [link.get(0) for _ in range(3)] == [997, 998, 999]


def test_closed_drop_link_ends_after_draining():
    link = DropLink(2)
    link.put("a")
    link.close()
    link.put("ignored")
    assert link.get(0) == "a"
    with pytest.raises(LinkClosed):
        link.get(0)


def test_iterating_a_drop_link_yields_until_it_is_closed():
    link = DropLink(3)
    for item in "abc":
        link.put(item)
    link.close()
    assert list(link) == ["a", "b", "c"] and link.closed


def test_lossless_link_waits_when_full_until_the_consumer_takes_one():
    stop = threading.Event()
    link = LosslessLink(2, stop)
    link.put(1)
    link.put(2)
    started, put_returned = threading.Event(), threading.Event()

    def produce():
        started.set()
        link.put(3)
        put_returned.set()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    assert started.wait(10)
    # Blocked: after many of its polls, the third item is still not in (the link holds its two).
    assert not put_returned.wait(20 * _POLL_S) and len(link) == 2 and producer.is_alive()
    assert link.get() == 1
    assert put_returned.wait(10), "taking one item let the producer in"
    producer.join(10)
    assert [link.get(), link.get()] == [2, 3]


def test_lossless_link_stops_a_waiting_producer_when_told():
    stop = threading.Event()
    link = LosslessLink(1, stop)
    link.put(1)
    raised = []

    def produce():
        try:
            link.put(2)
        except LinkClosed:
            raised.append(True)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    stop.set()
    producer.join(10)
    assert raised == [True] and not producer.is_alive()


def test_lossless_link_ends_with_end():
    link = LosslessLink(2, threading.Event())
    link.put("a")
    link.close()
    assert link.get() == "a" and link.get() is END
