# -*- coding: utf-8 -*-
# Copyright: mcast.linux contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mcastd's command line: options, start-up checks with distinct exit codes, daemonizing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import argparse
import errno
import logging
import os
import sys

from . import config as conf
from . import control, daemon, kernel, mrdisc, nftrun
from .control import say
from .linux import DEFAULT_CONFIG, DEFAULT_SOCKET
DEFAULT_PIDFILE = "/run/mcastd/mcastd.pid"
DEFAULT_CACHE_TIMEOUT = 60

# Exit codes are sysexits(3) values, the ones smcrouted uses, so scripts written for it work.
EXIT_OK = 0
EXIT_USAGE = 64  # EX_USAGE: bad command line
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: another daemon holds the routing API (EADDRINUSE) or answers on the socket
EXIT_SOFTWARE = 70  # EX_SOFTWARE: unexpected failure (a bug: please report it with the log)
EXIT_OSERR = 71  # EX_OSERR: an operating system error (control socket or PID file cannot be created, ...)
EXIT_NO_KERNEL_SUPPORT = 76  # EX_PROTOCOL: the kernel has no IPv4 multicast routing
EXIT_PERMISSION = 77  # EX_NOPERM: not root / no CAP_NET_ADMIN, CAP_NET_RAW
EXIT_CONFIG = 78  # EX_CONFIG: configuration invalid or unreadable


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that exits with EX_USAGE (64), as smcrouted does, instead of 2."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, "%s: error: %s\n" % (self.prog, message))


LEVELS = {"none": logging.CRITICAL + 10, "err": logging.ERROR, "error": logging.ERROR, "warning": logging.WARNING,
          "notice": logging.INFO, "info": logging.INFO, "debug": logging.DEBUG}


def parse_args(argv):
    parser = _ArgumentParser(prog="mcastd", description="IPv4 and IPv6 static multicast routing daemon (smcroute.conf grammar).")
    parser.add_argument("-f", "--config", default=DEFAULT_CONFIG, help="configuration file (default %(default)s)")
    parser.add_argument("-u", "--socket", default=DEFAULT_SOCKET, help="control socket (default %(default)s)")
    parser.add_argument("-p", "--pidfile", default=DEFAULT_PIDFILE, help="PID file (default %(default)s)")
    parser.add_argument("-n", "--foreground", action="store_true", help="stay in the foreground (systemd, tests)")
    parser.add_argument("-l", "--log-level", default="info", choices=sorted(LEVELS), help="log level (default %(default)s)")
    parser.add_argument("-c", "--cache-timeout", type=_seconds, default=DEFAULT_CACHE_TIMEOUT,
                        help="seconds an idle learned entry is kept; 0 keeps them (default %(default)s)")
    parser.add_argument("-m", "--mrdisc-interval", type=mrdisc.parse_interval, default=mrdisc.DEFAULT_INTERVAL,
                        metavar="SEC", help="mrdisc (RFC 4286) advertisement interval on 'phyint IF mrdisc' interfaces, "
                        "%d-%d s (default %%(default)s)" % (mrdisc.MIN_INTERVAL, mrdisc.MAX_INTERVAL))
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument("-F", dest="check_file", metavar="FILE",
                        help="validate FILE and exit (smcrouted's -F; the same as --check -f FILE)")
    parser.add_argument("-P", dest="pidfile", help=argparse.SUPPRESS)  # smcrouted's spelling of the PID file option
    parser.add_argument("-V", "--version", action="version", version="mcastd %s" % daemon.VERSION)
    options = parser.parse_args(argv)
    if options.check_file:
        options.check, options.config = True, options.check_file
    return options


def _seconds(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return value


def setup_logging(level, to_syslog=False):
    log = logging.getLogger("mcastd")
    log.setLevel(LEVELS[level])
    log.handlers = []
    if to_syslog and os.path.exists("/dev/log"):
        # Imported only here: the daemon under systemd logs to stderr and is spared its memory.
        from logging import handlers  # pylint: disable=import-outside-toplevel
        handler = handlers.SysLogHandler("/dev/log", facility=handlers.SysLogHandler.LOG_DAEMON)
        handler.setFormatter(logging.Formatter("mcastd[%(process)d]: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("mcastd: %(levelname)s: %(message)s"))
    log.addHandler(handler)
    return log


def check(options):
    """--check: print every error with file:line; exit status says valid or not."""
    try:
        config = conf.load(options.config, overflow=nftrun.find_nft() is not None)
    except conf.ConfigError as exc:
        for line in exc.warnings:
            say("warning: %s" % line, error=True)
        for line in exc.errors:
            say(line, error=True)
        say("%s: %d error(s), configuration refused" % (options.config, len(exc.errors)), error=True)
        return EXIT_CONFIG
    for line in config.warnings:
        say("warning: %s" % line, error=True)
    say("%s: valid: %d (S,G) routes, %d templates, %d group joins, %d phyint lines, %d file(s)" % (
        options.config, len(config.static_routes), len(config.templates), len(config.memberships()),
        len(config.phyints), len(config.files)))
    return EXIT_OK


def exit_code_for(exc):
    if exc.errno == errno.EADDRINUSE:
        return EXIT_UNAVAILABLE
    if exc.errno in (errno.EPERM, errno.EACCES):
        return EXIT_PERMISSION
    if exc.errno in (errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT):
        return EXIT_NO_KERNEL_SUPPORT
    return EXIT_OSERR


def daemonize():
    """Fork into the background; the parent exits with the child's start-up status."""
    read_fd, write_fd = os.pipe()
    if os.fork() > 0:
        os.close(write_fd)
        status = os.read(read_fd, 1)
        os._exit(status[0] if status else EXIT_SOFTWARE)  # pylint: disable=protected-access
    os.close(read_fd)
    os.setsid()
    if os.fork() > 0:
        os._exit(EXIT_OK)  # pylint: disable=protected-access
    return write_fd


def _detach_stdio():
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def write_pidfile(path):
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    temporary = "%s.%d.tmp" % (path, os.getpid())
    with open(temporary, "w") as handle:
        handle.write("%d\n" % os.getpid())
    os.rename(temporary, path)


def start(options, log, config):
    """Start the daemon or return (None, exit code) after logging why it cannot."""
    mcastd = daemon.Daemon(options, log)
    try:
        mcastd.start(config)
        write_pidfile(options.pidfile)
    except kernel.KernelError as exc:
        log.error("%s", exc)
        mcastd.close()
        return None, exit_code_for(exc)
    except control.SocketInUse as exc:
        log.error("%s: is mcastd already running? Use another -u SOCKET for a second instance", exc)
        mcastd.close()
        return None, EXIT_UNAVAILABLE
    except OSError as exc:
        log.error("cannot create %s: %s", exc.filename or options.socket, exc.strerror)
        mcastd.close()
        return None, EXIT_OSERR
    return mcastd, EXIT_OK


def main(argv=None):
    options = parse_args(argv)
    if options.check:
        return check(options)
    log = setup_logging(options.log_level)
    try:
        config = conf.load(options.config, overflow=nftrun.find_nft() is not None)
    except conf.ConfigError as exc:
        for line in exc.errors:
            log.error("%s", line)
        log.error("configuration refused (%d error(s)); nothing started", len(exc.errors))
        return EXIT_CONFIG
    status_fd = None if options.foreground else daemonize()
    mcastd, code = start(options, log, config)
    if status_fd is not None:
        os.write(status_fd, bytes([code]))
        os.close(status_fd)
        if mcastd is not None:
            log = setup_logging(options.log_level, to_syslog=True)
            mcastd.log = log
            _detach_stdio()
    if mcastd is None:
        return code
    try:
        mcastd.run()
    except Exception:  # pylint: disable=broad-except
        # The loop contains every event; reaching this is a bug. Say so instead of a bare traceback.
        log.exception("unexpected failure, stopping (the kernel drops every route now); please report this")
        code = EXIT_SOFTWARE
    finally:
        mcastd.close()
        try:
            os.unlink(options.pidfile)
        except OSError:
            pass
    return code
