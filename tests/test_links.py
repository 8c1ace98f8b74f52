"""Links between stages: bounded always; live links drop the oldest and count it."""

import threading

from streamer.pipeline.links import END, DropLink, LinkClosed, LosslessLink


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
    assert link.get(0) == "a" and link.get(0) is END


def test_lossless_link_waits_when_full_and_stops_when_told():
    stop = threading.Event()
    link = LosslessLink(2, stop)
    link.put(1)
    link.put(2)
    stop.set()
    try:
        link.put(3)
        raise AssertionError("a full link must not accept more")
    except LinkClosed:
        pass
