"""The lab's watches without a lab: fed by fake samplers, each one must see the violation
it exists for (a double mount, an address on two nodes, a service held twice), count
its samples, and fail when too many of its samples failed or it took none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import pytest

from tandem.lab.holders import Holders, HolderSpec
from tandem.lab.sampler import MountSeen, Sample
from tandem.lab.wait import wait_for
from tandem.lab.watch import (
    MAX_FAILED_FRACTION,
    HolderWatch,
    SplitBrainWatch,
    Violation,
    Watch,
)

S = TypeVar("S")


class FakeSampler(Generic[S]):
    """Hands out prepared samples in turn; an exception in the list is raised instead."""

    def __init__(self, script: list[S | Exception]) -> None:
        self.script = script
        self.taken = 0
        self.closed = False

    def sample(self) -> S:
        item = self.script[self.taken % len(self.script)]
        self.taken += 1
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        self.closed = True


def mounts(**by_node: list[str]) -> Sample:
    return Sample(mounts={n: [MountSeen(d, "/srv") for d in disks]
                          for n, disks in by_node.items()})


def addresses(**by_node: list[str]) -> Sample:
    return Sample(addresses={n: [("eth0", a, 24) for a in addrs]
                             for n, addrs in by_node.items()})


def split_watch(script: list[Sample | Exception]) -> SplitBrainWatch:
    return SplitBrainWatch("fake", sampler=FakeSampler(script))


def holder_watch(script: list[Holders | Exception]) -> HolderWatch:
    return HolderWatch("fake", [HolderSpec("web", dummy_resource="web-daemon")],
                       sampler=FakeSampler(script))


def take(watch: Watch[S], count: int) -> list[Violation]:
    for _ in range(count):
        watch.check_now()
    return watch.snapshot()


def test_split_brain_watch_sees_a_double_mount_once_over_its_samples() -> None:
    watch = split_watch([mounts(node1=["shared"], node2=[]),
                         mounts(node1=["shared"], node2=["shared"]),
                         mounts(node1=["shared"], node2=["shared"]),
                         mounts(node1=[], node2=["shared"])])
    found = take(watch, 4)
    assert [(v.kind, v.subject, v.nodes, v.samples) for v in found] == [
        ("double-mount", "shared", ("node1", "node2"), 2)]
    assert watch.samples == 4 and watch.failed == 0
    with pytest.raises(AssertionError, match="double-mount: shared on node1 and node2"):
        watch.assert_clean()


def test_split_brain_watch_sees_an_address_on_two_nodes() -> None:
    watch = split_watch([addresses(node1=["198.51.100.50", "198.51.100.11"],
                                   node2=["198.51.100.12", "198.51.100.50"])])
    found = take(watch, 1)
    assert [(v.kind, v.subject, v.nodes) for v in found] == [
        ("duplicate-address", "198.51.100.50", ("node1", "node2"))]


def test_holder_watch_sees_a_service_held_twice_and_reports_it_once_per_episode() -> None:
    seen: list[Violation] = []
    watch = HolderWatch("fake", [HolderSpec("web", dummy_resource="web-daemon")],
                        on_violation=seen.append,
                        sampler=FakeSampler([{"web": ["node1"]},
                                             {"web": ["node1", "node2"]},
                                             {"web": ["node2"]},
                                             {"web": ["node1", "node2"]}]))
    found = take(watch, 4)
    assert [(v.kind, v.subject, v.nodes) for v in found] == [
        ("double-holder", "web", ("node1", "node2"))] * 2  # two separate episodes
    assert seen == found
    assert watch.holders() == {"web": ["node1"]}  # one more look, outside the counts
    assert watch.samples == 4


def test_healthy_samples_make_a_clean_watch() -> None:
    watch = holder_watch([{"web": ["node1"]}, {"web": []}])
    assert take(watch, 10) == []
    watch.assert_clean()
    assert watch.health() is None
    assert watch.summary() == "holder watch of fake: 10 samples, 0 failed, 0 violation(s)"


@pytest.mark.parametrize("make", [
    lambda script: split_watch([mounts(node1=["shared"])] * 3 + script),
    lambda script: holder_watch([{"web": ["node1"]}] * 3 + script),
], ids=["split-brain", "holder"])
def test_a_watch_whose_samples_mostly_fail_is_not_clean(
        make: Callable[[list[Exception]], Watch[object]]) -> None:
    watch = make([OSError("node vanished")])  # one failure in four
    take(watch, 40)
    assert (watch.samples, watch.failed) == (30, 10)
    assert watch.snapshot() == []
    with pytest.raises(AssertionError, match=r"failed 10 of 40 samples.*node vanished"):
        watch.assert_clean()


def test_a_few_failed_samples_are_tolerated() -> None:
    script: list[Holders | Exception] = [{"web": ["node1"]}] * 39 + [OSError("gone")]
    watch = holder_watch(script)
    take(watch, 40)
    assert watch.failed == 1 and watch.failed <= MAX_FAILED_FRACTION * 40
    watch.assert_clean()


def test_a_watch_without_samples_is_not_clean() -> None:
    assert "took no sample" in (holder_watch([{"web": []}]).health() or "")
    broken = holder_watch([RuntimeError("no such lab")])
    take(broken, 3)
    with pytest.raises(AssertionError, match="took no sample; last error: RuntimeError"):
        broken.assert_clean()


def test_the_thread_samples_until_stopped_and_closes_its_sampler() -> None:
    sampler: FakeSampler[Holders] = FakeSampler([{"web": ["node1"]}])
    with HolderWatch("fake", [], interval_s=0.001, sampler=sampler) as watch:
        wait_for(lambda: watch.samples >= 5, 10, "five samples")
    assert sampler.closed
    assert watch.samples == sampler.taken >= 5
