import pytest

from mvt_fer.engine import runtime


@pytest.mark.parametrize("cores, local_world, expected", [(2, 1, 0), (3, 1, 1), (16, 1, 8), (64, 1, 8), (16, 2, 6)])
def test_default_workers_follow_the_cores(monkeypatch, cores, local_world, expected):
    monkeypatch.setattr(runtime.os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local_world))
    assert runtime.loader_workers(None) == expected
    assert runtime.loader_workers(3) == 3  # an explicit count is kept
