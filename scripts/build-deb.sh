#!/usr/bin/env bash
# Builds the Debian packages facekp, libfacekp-dev and gir1.2-facekpmeta-1.0
# with dpkg-buildpackage, in a copy of the checkout so that the tree stays as
# it was (dpkg-buildpackage writes into the source folder and its parent):
#
#   scripts/build-deb.sh [--no-deps] [OUTPUT_DIR]      (default: deb-out)
#
# The copy holds the checkout's files as they are, committed or not (git's
# tracked and untracked files, not the ignored ones).  DEB_BUILD_OPTIONS
# defaults to "nocheck parallel=<cores>": scripts/test.sh runs the suite;
# set DEB_BUILD_OPTIONS yourself to run it inside the package build.
# --no-deps: do not call install-deps.sh deb (the build tools must be there).
set -euo pipefail
cd "$(dirname "$0")/.."
install_deps=1
if [ "${1:-}" = "--no-deps" ]; then
  install_deps=0
  shift
fi
[ $install_deps -eq 0 ] || bash scripts/install-deps.sh deb

out=$(realpath -m "${1:-deb-out}")
work=$(mktemp -d "${TMPDIR:-/tmp}/facekp-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
version=$(dpkg-parsechangelog -S Version)
src="$work/facekp-$version"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' file; do [ -e "$file" ] && printf '%s\0' "$file"; done \
    | tar --null -T - -cf - | tar -xf - -C "$src"
else
  tar --exclude='./build*' --exclude='./deb-out' -cf - . | tar -xf - -C "$src"
fi

export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS-"nocheck parallel=$(nproc)"}
case " $DEB_BUILD_OPTIONS " in
  *" nocheck "*) export DEB_BUILD_PROFILES="${DEB_BUILD_PROFILES:+$DEB_BUILD_PROFILES }nocheck" ;;
esac
(cd "$src" && dpkg-buildpackage -us -uc -b)

mkdir -p "$out"
mv "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
ls -1 "$out"/*_"$version"_*.deb
