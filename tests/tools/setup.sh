#!/bin/sh
# Installs everything `make lab` and `make test` need on a fresh Debian 12 machine, idempotently:
# Debian packages, the pinned Python virtualenv, the offline bootstrap for ansible-test and the
# link that lets ansible load this checkout as the collection mcast.linux.
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
VENV="$REPO/.venv"
BUILD="$REPO/.build"
PYTHON=${PYTHON:-python3}
APT_PACKAGES="podman runc uidmap debootstrap nftables iproute2 iputils-ping procps smcroute shellcheck
  linux-libc-dev python3-venv rsync git make systemd"
PIP_BOOTSTRAP_VERSION=24.2   # the pip ansible-test 2.19 bootstraps in its sanity virtualenvs

say() { printf '==> %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

install_debian_packages() {
    missing=""
    for pkg in $APT_PACKAGES; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $pkg"
    done
    [ -z "$missing" ] && return 0
    [ "$(id -u)" = 0 ] || die "Debian packages missing:$missing. Run as root (apt-get install$missing)."
    command -v apt-get >/dev/null || die "apt-get not found: this set-up supports Debian 12 only; install:$missing"
    say "apt-get install$missing"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

install_virtualenv() {
    stamp="$VENV/.requirements.sha256"
    want=$(cat "$REPO/tests/requirements.txt" "$REPO/tests/constraints.txt" | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    say "virtualenv $VENV (pinned tools from tests/requirements.txt)"
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        -r "$REPO/tests/requirements.txt" -c "$REPO/tests/constraints.txt"
    echo "$want" > "$stamp"
}

install_ansible_test_bootstrap() {
    cache="$HOME/.ansible/test/cache"
    mkdir -p "$cache"
    if ! ls "$cache"/pip-$PIP_BOOTSTRAP_VERSION-*.whl >/dev/null 2>&1; then
        say "pip $PIP_BOOTSTRAP_VERSION wheel for ansible-test's offline bootstrap"
        "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$cache" "pip==$PIP_BOOTSTRAP_VERSION"
    fi
    cp "$REPO/tests/tools/get_pip_offline.py" "$cache/get_pip_$(echo $PIP_BOOTSTRAP_VERSION | tr . _).py"
}

link_collection() {
    link="$BUILD/collections/ansible_collections/mcast/linux"
    mkdir -p "$(dirname "$link")"
    [ -L "$link" ] || ln -s "$REPO" "$link"
}

install_debian_packages
install_virtualenv
install_ansible_test_bootstrap
link_collection
say "set-up complete"
