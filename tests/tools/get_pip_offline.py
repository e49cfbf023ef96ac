"""Offline stand-in for ansible-test's get-pip bootstrap script.

ansible-test bootstraps pip in the virtual environments of its sanity tests by downloading
``get-pip-<version>.py`` from ci-files.testing.ansible.com, which is unreachable here.
``make setup`` copies this file to ``~/.ansible/test/cache/get_pip_<version>.py`` next to the pip
wheel it downloaded from the package index, so the bootstrap installs pip from that wheel instead.
It is run with the same arguments as get-pip.py (pip install options and requirements).
"""
import glob
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def main():
    wheels = sorted(glob.glob(os.path.join(HERE, 'pip-*.whl')))
    if not wheels:
        sys.exit('no pip wheel next to %s: run `make setup` again' % __file__)
    options = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    sys.path.insert(0, wheels[-1])  # a pip wheel is importable and can install itself
    sys.argv = ['pip', 'install', '--no-index', '--find-links', HERE] + options
    runpy.run_module('pip', run_name='__main__', alter_sys=True)


if __name__ == '__main__':
    main()
