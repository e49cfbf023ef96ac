# -*- coding: utf-8 -*-
# Copyright (c) mcast.linux developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the roles' platform check needs of a host: its OS family and release, its Python, its packages.

Private to this collection (mcast.linux.facts, subset ``platform``). The facts keep the names that
ansible.builtin.setup gives them (``os_family``, ``distribution``, ``distribution_version``,
``distribution_major_version``, ``distribution_release``, ``python``), but are read here from
os-release(5) alone: setup's collectors would load the code of every fact subset into each module run,
which costs a fleet about a quarter of a second of CPU per host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import re
import shlex
import sys

from ansible.module_utils.compat.version import LooseVersion

from ansible_collections.mcast.linux.plugins.module_utils._files import read_text

OS_RELEASE_FILES = ('/etc/os-release', '/usr/lib/os-release')
DEBIAN_VERSION_FILE = '/etc/debian_version'
# os-release IDs (ID, then each of ID_LIKE) and the OS family Ansible gives them.
FAMILIES = {'debian': 'Debian', 'ubuntu': 'Debian', 'rhel': 'RedHat', 'fedora': 'RedHat', 'centos': 'RedHat',
            'suse': 'Suse', 'opensuse': 'Suse', 'sles': 'Suse', 'arch': 'Archlinux'}
# Distribution names Ansible spells otherwise than the capitalised ID.
NAMES = {'rhel': 'RedHat', 'centos': 'CentOS', 'almalinux': 'AlmaLinux', 'ol': 'OracleLinux', 'amzn': 'Amazon',
         'sles': 'SLES', 'opensuse-leap': 'openSUSE Leap', 'opensuse-tumbleweed': 'openSUSE Tumbleweed',
         'arch': 'Archlinux'}
# The package database's query tool per OS family, printing "NAME installed VERSION" for each installed package
# (a package dpkg knows as removed prints another status, one rpm does not know "package NAME is not installed").
PACKAGE_QUERIES = {
    'Debian': ['dpkg-query', '--show', '--showformat=${Package} ${db:Status-Status} ${Version}\\n'],
    'RedHat': ['rpm', '--query', '--queryformat=%{NAME} installed %{VERSION}\\n'],
    'Suse': ['rpm', '--query', '--queryformat=%{NAME} installed %{VERSION}\\n'],
}


def parse_os_release(text):
    """``{KEY: value}`` of an os-release file (shell assignments, values possibly quoted)."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition('=')
        if sep and key.strip() and not key.lstrip().startswith('#'):
            try:
                words = shlex.split(value)
            except ValueError:  # an unbalanced quote: the value as written
                words = [value.strip()]
            values[key.strip()] = ' '.join(words)
    return values


def distribution_facts(os_release, debian_version=''):
    """The distribution facts, as setup names them, from os-release values (and Debian's point release)."""
    ident = os_release.get('ID', '').lower()
    family = next((FAMILIES[like] for like in [ident] + os_release.get('ID_LIKE', '').lower().split()
                   if like in FAMILIES), None)
    name = NAMES.get(ident, ident.capitalize()) or 'NA'
    version = os_release.get('VERSION_ID', '')
    if ident == 'debian' and debian_version[:1].isdigit():
        version = debian_version.strip()  # 12.11, where os-release says 12 (as setup reports it)
    return {'distribution': name, 'distribution_version': version or 'NA',
            'distribution_major_version': version.split('.')[0] or 'NA',
            'distribution_release': os_release.get('VERSION_CODENAME') or 'NA',
            'os_family': family or name}


def python_facts():
    """setup's ``python`` fact for the Python that runs the module (without has_sslcontext)."""
    info = sys.version_info
    return {'python': {'version': {'major': info[0], 'minor': info[1], 'micro': info[2], 'releaselevel': info[3],
                                   'serial': info[4]},
                       'version_info': list(info), 'executable': sys.executable,
                       'type': sys.implementation.name}}


def read_first(paths):
    """The text of the first of ``paths`` that exists, or an empty string."""
    return next((text for text in map(read_text, paths) if text is not None), '')


def parse_installed(text):
    """``{name: version}`` from the query's ``NAME installed VERSION`` lines; every other line is skipped."""
    installed = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] == 'installed':
            installed[fields[0]] = fields[2]
    return installed


def query_packages(module, os_family, names):
    """``(installed, checked)``: the installed packages among ``names`` with their versions, and whether the
    package database answered (the family has a query tool, it is installed and it printed something)."""
    query = PACKAGE_QUERIES.get(os_family)
    tool = module.get_bin_path(query[0]) if query and names else None
    if tool is None:
        return {}, False
    _rc, out, _err = module.run_command([tool] + query[1:] + sorted(set(names)))  # rc counts the unknown names
    return parse_installed(out), bool(out.strip())


def platform_facts(module, names):
    """``(facts, packages)``: the distribution and python facts, and the installed packages among ``names``."""
    facts = distribution_facts(parse_os_release(read_first(OS_RELEASE_FILES)), read_first([DEBIAN_VERSION_FILE]))
    facts.update(python_facts())
    installed, checked = query_packages(module, facts['os_family'], names)
    return facts, {'packages': installed, 'packages_checked': checked}


def upstream_version(version):
    """The upstream part of a package version: without the epoch (``1:``) and the packaging revision
    (``-2+b1``, ``~bpo``), as the roles compare it."""
    return re.sub(r'[-~+].*$', '', re.sub(r'^[0-9]+:', '', version))


def older(version, minimum):
    return LooseVersion(upstream_version(version)) < LooseVersion(minimum)


def wanted_packages(requires, facts):
    """The packages ``requires`` names for the host's OS family (or under ``*``); None for neither."""
    by_family = requires.get('packages') or {}
    return by_family.get(facts['os_family'], by_family.get('*'))


def missing_packages(requires, result):
    """The wanted packages the database lists as not installed, from a facts result (subset platform);
    empty where it did not answer."""
    wanted = wanted_packages(requires, result['ansible_facts'])
    if not wanted or not result.get('packages_checked'):
        return []
    return sorted(set(wanted) - set(result.get('packages') or {}))


def unmet_requirements(requires, facts, packages):
    """Why the host does not meet ``requires`` (python, packages per OS family, min_versions), as a list of
    reasons; empty when it does. ``facts`` and ``packages`` are what ``platform_facts`` returned."""
    unmet = []
    python = facts['python']['version']
    running = '%d.%d.%d' % (python['major'], python['minor'], python['micro'])
    if requires.get('python') and older(running, requires['python']):
        unmet.append('Python %s is older than %s' % (running, requires['python']))
    installed = packages['packages']
    by_family = requires.get('packages')
    if by_family is not None:
        wanted = wanted_packages(requires, facts)
        if wanted is None:
            unmet.append('no package names are given for the OS family %s' % facts['os_family'])
        elif not packages['packages_checked'] and wanted:
            unmet.append('the package database did not answer, so %s may be missing' % ', '.join(wanted))
        else:
            missing = sorted(set(wanted) - set(installed))
            if missing:
                unmet.append('not installed: %s' % ', '.join(missing))
    for name, minimum in sorted((requires.get('min_versions') or {}).items()):
        if name in installed and older(installed[name], minimum):
            unmet.append('%s %s is older than %s' % (name, installed[name], minimum))
    return unmet
