"""The rules every pool shares (django_multipool.policy), and the pools that follow them."""

from __future__ import annotations

import math
from time import monotonic

from django_multipool import PoolConfig, PoolTimeout
from django_multipool._pool import _Slot
from django_multipool.policy import LIFETIME_JITTER, check_after, expires_at, timed_out


def test_a_lifetime_is_shortened_by_up_to_the_jitter_and_never_lengthened() -> None:
    seen = {expires_at(1000.0, 100.0) - 1000.0 for _ in range(200)}
    assert all(100.0 * (1 - LIFETIME_JITTER) <= lived <= 100.0 for lived in seen)
    assert len(seen) > 1  # connections opened together do not retire together


def test_no_lifetime_never_expires() -> None:
    assert expires_at(monotonic(), None) == math.inf


def test_the_pool_core_retires_its_connections_by_the_same_rule() -> None:
    now = monotonic()
    lives = {_Slot(object(), now, 50.0).expires_at - now for _ in range(100)}
    assert all(50.0 * (1 - LIFETIME_JITTER) <= lived <= 50.0 for lived in lives)
    assert _Slot(object(), now, None).expires_at == math.inf


def test_check_after_reads_the_check_option() -> None:
    assert check_after(PoolConfig(check=False)) == math.inf
    assert check_after(PoolConfig(check=True)) == 0
    assert check_after(PoolConfig(check=30)) == 30


def test_a_timeout_names_the_pool_the_wait_and_the_fix() -> None:
    config = PoolConfig(max_size=4)
    error = timed_out("default", config, 2.5, waiting=-1, in_use=4, connect_errors=0)
    assert isinstance(error, PoolTimeout)
    text = str(error)
    assert "pool 'default' after 2.50 s" in text
    assert "all 4 connections (max_size) are in use" in text
    assert "0 other requests are waiting" in text  # a negative count is never shown
    assert "OPTIONS['pool']['max_size']" in text


def test_a_timeout_while_connecting_fails_quotes_the_driver() -> None:
    config = PoolConfig(max_size=4)
    error = timed_out(
        "default", config, 1.0, waiting=0, in_use=1, connect_errors=3, connect_error="refused"
    )
    assert "only 1 of 4 connections" in str(error)
    assert "(3 connection attempts failed)" in str(error)
    assert "Connecting fails with: refused" in str(error)


def test_a_timeout_while_a_connection_is_still_being_opened_says_so() -> None:
    config = PoolConfig(max_size=1)
    error = timed_out("default", config, 0.3, waiting=0, in_use=0, connect_errors=0, connecting=1)
    assert "1 more still being opened: connecting takes longer than the wait" in str(error)
    assert "OPTIONS['pool']['timeout']" in str(error)
    assert "reachable" not in str(error)  # nothing failed: the server answered, slowly
