"""groups.SocketPool and max_memberships: memberships spread over sockets, with fake sockets."""
import errno
import socket

import pytest

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import groups

JOIN, LEAVE = groups.IP_ADD_MEMBERSHIP, groups.IP_DROP_MEMBERSHIP


class FakeSocket:
    """Takes memberships like a kernel socket: ``capacity`` of them, then ENOBUFS; the same one twice: EADDRINUSE."""

    def __init__(self, capacity, fail=None):
        self.capacity = capacity
        self.fail = fail  # errno of every join, if set
        self.members = set()
        self.closed = False

    def setsockopt(self, level, option, data):
        assert level == socket.IPPROTO_IP and not self.closed
        if option == LEAVE:
            if data not in self.members:
                raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
            self.members.discard(data)
            return
        if self.fail:
            raise OSError(self.fail, "failed")
        if data in self.members:
            raise OSError(errno.EADDRINUSE, "Address already in use")
        if len(self.members) >= self.capacity:
            raise OSError(errno.ENOBUFS, "No buffer space available")
        self.members.add(data)

    def close(self):
        self.closed = True


def pool_of(limit, capacity=20, fail=None):
    opened = []

    def opener(family):
        assert family == 4
        opened.append(FakeSocket(capacity, fail))
        return opened[-1]

    return groups.SocketPool(4, limit, opener=opener), opened


def join(pool, n):
    return pool.join(n, socket.IPPROTO_IP, JOIN, b"%d" % n)


def leave(pool, n, gone=()):
    pool.leave(n, socket.IPPROTO_IP, LEAVE, b"%d" % n, gone=gone)


@pytest.mark.parametrize("limit, capacity, joins, sizes", [
    (20, 20, 1, [1]),
    (20, 20, 20, [20]),
    (20, 20, 21, [20, 1]),
    (20, 20, 80, [20, 20, 20, 20]),  # 40 querier interfaces, two router groups each
    (5, 20, 12, [5, 5, 2]),  # igmp_max_memberships set lower in the namespace
    (20, 7, 16, [7, 7, 2]),  # the limit read was too high: ENOBUFS spills over as well
    (None, 7, 16, [7, 7, 2]),  # no limit known (IPv6): ENOBUFS only
])
def test_memberships_spread_over_sockets_of_at_most_the_limit(limit, capacity, joins, sizes):
    pool, opened = pool_of(limit, capacity)
    held = [join(pool, n) for n in range(joins)]
    assert [len(sock.members) for sock in opened if not sock.closed] == sizes
    assert [pool.count(sock) for sock in pool.sockets] == sizes
    assert all(pool.socket_of(n) is held[n] and b"%d" % n in held[n].members for n in range(joins))


def test_joining_twice_keeps_the_one_membership():
    pool, opened = pool_of(20)
    assert join(pool, 1) is join(pool, 1)
    assert len(opened) == 1 and opened[0].members == {b"1"}


def test_a_socket_that_already_has_the_membership_counts_as_joined():
    pool, opened = pool_of(20)
    join(pool, 1)
    opened[0].members.add(b"2")  # e.g. held since before a restart of the bookkeeping
    assert join(pool, 2) is opened[0] and len(opened) == 1


def test_leave_frees_a_place_that_the_next_join_takes_and_an_empty_socket_is_closed():
    pool, opened = pool_of(2)
    for n in range(5):
        join(pool, n)
    assert [len(sock.members) for sock in opened] == [2, 2, 1]
    leave(pool, 1)
    assert join(pool, 9) is opened[0]  # the oldest socket with room, not a new one
    leave(pool, 4)
    assert opened[2].closed and pool.sockets == opened[:2]
    leave(pool, 4)  # not held any more: nothing to do
    assert len(pool.sockets) == 2


@pytest.mark.parametrize("fail, gone, raises", [
    (None, (), False),
    (errno.ENODEV, (errno.ENODEV,), False),  # the interface vanished with its membership
    (errno.EPERM, (errno.ENODEV,), True),
])
def test_leave_errors(fail, gone, raises):
    pool, opened = pool_of(20)
    join(pool, 1)
    join(pool, 2)
    if fail:
        def refuse(_level, _option, _data):
            raise OSError(fail, "refused")
        opened[0].setsockopt = refuse
    if raises:
        with pytest.raises(OSError):
            leave(pool, 1, gone)
    else:
        leave(pool, 1, gone)
    assert pool.socket_of(1) is None and pool.count(opened[0]) == 1


@pytest.mark.parametrize("fail", [errno.ENOBUFS, errno.ENODEV])
def test_a_join_no_socket_takes_raises_and_leaves_no_socket_open(fail):
    pool, opened = pool_of(20, fail=fail)
    with pytest.raises(OSError) as caught:
        join(pool, 1)
    assert caught.value.errno == fail
    assert pool.sockets == [] and all(sock.closed for sock in opened) and pool.held == {}


def test_full_sockets_then_a_fresh_one_refusing_raises_enobufs():
    pool, opened = pool_of(None, capacity=1)
    join(pool, 1)
    opened[0].capacity = 0
    for sock in opened:
        sock.fail = None
    pool.opener = lambda family: FakeSocket(0)
    with pytest.raises(OSError) as caught:
        join(pool, 2)
    assert caught.value.errno == errno.ENOBUFS and pool.sockets == opened


def test_close_closes_every_socket():
    pool, opened = pool_of(2)
    for n in range(5):
        join(pool, n)
    pool.close()
    assert all(sock.closed for sock in opened) and pool.sockets == [] and pool.held == {}


@pytest.mark.parametrize("content, expected", [
    ("20\n", 20),
    ("7", 7),
    ("100000\n", 100000),
    ("0\n", 20),  # a socket that takes none would never hold anything: the kernel's default
    ("-3\n", 20),
    ("many\n", 20),
    (None, 20),  # no such file
])
def test_max_memberships_reads_the_sysctl_or_falls_back_to_20(tmp_path, content, expected):
    path = tmp_path / "igmp_max_memberships"
    if content is not None:
        path.write_text(content)
    assert groups.max_memberships(str(path)) == expected
