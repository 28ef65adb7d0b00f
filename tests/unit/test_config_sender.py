"""Who sends the configuration to members on an older version, and how often: after an
operator's push, and to a member that comes back after missing one (resync)."""

from __future__ import annotations

from tandem.daemon.configpush import MAX_SENDS, ConfigSender

RUNNING = "config v5"


def read() -> str:
    return RUNNING


def test_a_push_goes_to_members_behind_and_repeats_until_bounded() -> None:
    sender = ConfigSender(resend_s=1.0)
    sender.push(5, "pushed v5")
    assert sender.due(10.0, 1, 5, {2: 4, 3: 5}, read) == ("pushed v5", 5, (2,), ())
    assert sender.due(10.5, 1, 5, {2: 4}, read)[2] == ()  # not before resend_s
    sends, reported = 1, list[int]()
    for tick in range(MAX_SENDS + 5):
        due = sender.due(11.0 + tick, 1, 5, {2: 4}, read)
        sends += bool(due.members)
        reported += list(due.gave_up)
    assert sends == MAX_SENDS and reported == [2]  # given up once, reported once
    assert sender.due(100.0, 1, 5, {2: 5}, read)[2] == ()  # caught up: nothing to do


def test_a_late_member_is_resynced_by_the_lowest_newest_member() -> None:
    lowest, other = ConfigSender(resend_s=1.0), ConfigSender(resend_s=1.0)
    # node 3 came back on version 4; nodes 1 and 2 run version 5.
    assert lowest.due(5.0, 1, 5, {2: 5, 3: 4}, read) == (RUNNING, 5, (3,), ())
    assert other.due(5.0, 2, 5, {1: 5, 3: 4}, read)[2] == ()
    # A node on an old version itself never sends; nor one whose file is not what runs.
    assert ConfigSender(resend_s=1.0).due(5.0, 3, 4, {1: 5, 2: 3}, read)[2] == ()
    assert ConfigSender(resend_s=1.0).due(5.0, 1, 5, {3: 4}, lambda: None)[2] == ()


def test_nothing_is_sent_when_everyone_is_current() -> None:
    assert ConfigSender(resend_s=1.0).due(5.0, 1, 5, {2: 5, 3: 7}, read)[2] == ()
