#!/bin/sh
# Runs `ansible-test sanity` on a fresh copy of the checkout: ansible-test insists on a path
# ending in ansible_collections/NAMESPACE/NAME. Only files git knows (tracked or not ignored) are
# copied, so build output and the virtualenv stay out.
set -eu
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# SANITY_ROOT lets parallel runs (several developers or helpers) use copies of their own.
DEST="${SANITY_ROOT:-$REPO/.build/sanity}/ansible_collections/mcast/linux"
rm -rf "$DEST"
mkdir -p "$DEST"
cd "$REPO"
git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$DEST/"
cd "$DEST"
# The copy lies inside this checkout's git work tree (ignored there); ansible-test asks git which
# files exist, so give the copy a repository of its own.
git init -q . && git add -A
exec "$REPO/.venv/bin/ansible-test" sanity --python 3.11 --local --color no "$@"
