"""The cache degrades to misses while Redis is down, and comes back on its own."""

from __future__ import annotations

import time

import pytest
from django.test import RequestFactory

from modules.common.cache import CacheUnavailable, ResilientRedisCache
from modules.common.throttles import IPRateThrottle
from tests.system.servers import PrivateRedis, free_port


def _cache(port: int, retry_seconds: float = 0.2) -> ResilientRedisCache:
    return ResilientRedisCache(
        f"redis://127.0.0.1:{port}/0",
        {
            "KEY_PREFIX": "resilience-test",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5, "retry_seconds": retry_seconds},
        },
    )


def test_an_unreachable_redis_answers_misses_and_refuses_deciding_answers() -> None:
    cache = _cache(free_port())
    assert cache.get("k", "fallback") == "fallback"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.has_key("k") is False
    assert cache.set("k", 1) is None
    assert cache.delete("k") is False
    assert cache.touch("k") is False
    assert cache.set_many({"a": 1}) == ["a"]
    assert cache.raw_get_many(["a", "b"]) == [None, None]
    with pytest.raises(CacheUnavailable):
        cache.run_script("return 1", keys=[], args=[], serialized=())
    with pytest.raises(CacheUnavailable):
        cache.add("k", 1)
    with pytest.raises(CacheUnavailable):
        cache.incr("k")
    assert cache.available is False


def test_after_a_failure_calls_skip_redis_until_the_retry_time() -> None:
    server = PrivateRedis()
    cache = _cache(server.port, retry_seconds=30)
    assert cache.get("k", "down") == "down"  # trips the breaker
    server.start()
    try:
        cache.set("k", "stored?")  # Redis answers again, but the process does not ask it yet
        assert cache.get("k", "skipped") == "skipped"
    finally:
        server.stop()


def test_it_recovers_when_redis_comes_back() -> None:
    server = PrivateRedis()
    cache = _cache(server.port, retry_seconds=0.2)
    assert cache.get("k", "down") == "down"
    server.start()
    try:
        # on its own: no reset, only retries once the breaker's 0.2 s are over (a deadline, not a
        # fixed sleep: on a loaded machine the fresh server's first answer can exceed the 0.5 s timeout)
        deadline = time.monotonic() + 10
        while True:
            cache.set("k", "up")
            if cache.get("k") == "up":
                break
            assert time.monotonic() < deadline, "the cache did not come back within 10 s"
            time.sleep(0.1)
        assert cache.add("fresh", 1) is True
        assert cache.incr("fresh") == 2
        assert cache.available is True
        server.stop()
        assert cache.get("k", "gone") == "gone"
    finally:
        server.stop()


def test_throttles_count_in_process_while_the_cache_is_down(settings) -> None:
    settings.THROTTLES_ENABLED = True
    throttle = IPRateThrottle("2/min", scope="outage-test")
    throttle.cache = _cache(free_port(), retry_seconds=30)
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9")
    assert [throttle.allow_request(request) for _ in range(3)] == [True, True, False]
    assert throttle.wait() is not None


def test_raw_reads_see_what_scripts_and_integers_stored_under_the_cache_s_keys() -> None:
    server = PrivateRedis()
    server.start()
    try:
        cache = _cache(server.port)
        cache.set("number", 42)  # the cache keeps integers as digits
        cache.run_script(
            "redis.call('SET', KEYS[1], ARGV[1])", keys=["raw"], args=[b"a:b"], serialized=(False,)
        )
        assert cache.raw_get_many(["number", "raw", "missing"]) == [b"42", b"a:b", None]
        assert cache.get("number") == 42
    finally:
        server.stop()


def test_scripts_run_by_their_digest_and_survive_a_flushed_script_cache() -> None:
    server = PrivateRedis()
    server.start()
    try:
        cache = _cache(server.port)
        script = "return tonumber(ARGV[1]) + 1"
        assert cache.run_script(script, keys=[], args=[1], serialized=(False,)) == 2
        client = cache._cache.get_client(write=True)
        client.script_flush()  # as after a restart of Redis: the digest is unknown again
        assert cache.run_script(script, keys=[], args=[41], serialized=(False,)) == 42
        assert client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0) >= 2
    finally:
        server.stop()
