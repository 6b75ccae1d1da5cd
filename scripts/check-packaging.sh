#!/usr/bin/env bash
# Checks recall's Conan recipe and vcpkg port with the real tools, building
# this checkout:
#   conan  conan create (static, then shared), each with test_package, then
#          tests/consumer/find_package consumed through its conanfile.txt;
#          with the Redis target in the tree, once more with with_redis=True.
#   vcpkg  ports/recall installed (static and dynamic triplets) through the
#          manifest of tests/consumer/find_package and an overlay that takes
#          the source from this checkout's HEAD, with no post-build validation
#          warning; then that consumer built and run against it; then the
#          repository's own manifest (vcpkg.json) installed.
# Each part runs only when its tool is on PATH, and otherwise says how to get
# it (docs/packaging.md). The dependencies are Debian 12's packages
# (scripts/deps.sh): Conan is told so by scripts/packaging/debian12.profile,
# vcpkg by overlay ports that install nothing. Nothing is downloaded.
#
# Usage: scripts/check-packaging.sh [conan] [vcpkg]   (default: both)
# JOBS=n sets the build parallelism (default 1). Work and logs go to
# build/packaging/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$repo/build/packaging
jobs=${JOBS:-1}
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(conan vcpkg)
version=$(sed -n 's/^project(recall VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
has_redis=no
[ -f include/recall/redis.hpp ] && has_redis=yes
mkdir -p "$work"
failed=0
summary=()

say() { echo "check-packaging: $*"; }

# step NAME LOG COMMAND...: runs COMMAND with its output in LOG, prints the
# outcome and the wall time, and the log's tail on failure.
step() {
  local name=$1 log=$2
  shift 2
  local start=$SECONDS
  if "$@" >"$log" 2>&1; then
    summary+=("PASS  $name  ($((SECONDS - start)) s)")
    say "PASS  $name  ($((SECONDS - start)) s)"
  else
    summary+=("FAIL  $name  ($((SECONDS - start)) s, log: ${log#"$repo"/})")
    say "FAIL  $name  ($((SECONDS - start)) s), last lines of ${log#"$repo"/}:"
    tail -n 40 "$log" | sed 's/^/    /'
    failed=1
    return 1
  fi
}

check_conan() {
  if ! command -v conan >/dev/null; then
    summary+=("SKIP  conan: not on PATH")
    say "SKIP  conan is not on PATH. Install Conan 2 (pip install conan, or run it from"
    say "      its source as docs/packaging.md describes), then run this again."
    return 0
  fi
  # A Conan home of our own: the user's cache and remotes stay untouched, and
  # with no remote enabled nothing can be downloaded.
  export CONAN_HOME=$work/conan-home
  mkdir -p "$CONAN_HOME"
  conan profile detect --exist-ok >/dev/null 2>&1
  conan remote disable "*" >/dev/null 2>&1 || true
  say "$(conan --version)"
  local profile=$repo/scripts/packaging/debian12.profile
  local common=(--profile:all "$profile" -c "tools.build:jobs=$jobs")
  conan_create static "${common[@]}" -o "recall/*:shared=False"
  conan_create shared "${common[@]}" -o "recall/*:shared=True"
  if [ "$has_redis" = yes ]; then
    conan_create with_redis "${common[@]}" -o "recall/*:with_redis=True"
  fi
}

# conan_create NAME ARGS...: conan create with test_package, then the
# consumer project installed from its conanfile.txt and run.
conan_create() {
  local name=$1
  shift
  step "conan create $name + test_package" "$work/conan-$name.log" \
    conan create . --build "recall/*" "$@" || return 0
  local build=$work/conan-consumer-$name args
  args=$(printf '%q ' "$@")
  rm -rf "$build"
  step "tests/consumer/find_package through conanfile.txt ($name)" \
    "$work/conan-consumer-$name.log" sh -c "
      conan install tests/consumer/find_package --output-folder='$build' $args &&
      cmake -S tests/consumer/find_package -B '$build' -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_TOOLCHAIN_FILE='$build/conan_toolchain.cmake' &&
      cmake --build '$build' --parallel $jobs && '$build/consumer'" || true
}

# An overlay port for each dependency that installs nothing: vcpkg's
# graph is satisfied and CMake finds Debian's packages on the system.
write_system_ports() {
  local dir=$1 name
  for name in abseil benchmark catch2 cereal fmt hiredis xxhash; do
    mkdir -p "$dir/$name"
    printf '{"name": "%s", "version-string": "debian12", "description": "%s"}\n' \
      "$name" "$name from Debian 12 (apt-get), not built by vcpkg" >"$dir/$name/vcpkg.json"
    echo 'set(VCPKG_POLICY_EMPTY_PACKAGE enabled)' >"$dir/$name/portfile.cmake"
  done
}

# ports/recall with its vcpkg_from_github call replaced by a vcpkg_from_git
# of this checkout's HEAD: the same port, fed from here instead of a release.
write_recall_port() {
  local dir=$1 head
  head=$(git rev-parse HEAD)
  mkdir -p "$dir"
  cp ports/recall/vcpkg.json ports/recall/usage "$dir/"
  awk -v url="file://$repo" -v ref="$head" '
    /^vcpkg_from_github\(/ { skipping = 1
      print "vcpkg_from_git("
      print "    OUT_SOURCE_PATH SOURCE_PATH"
      print "    URL \"" url "\""
      print "    REF " ref
      print ")"
      next }
    skipping && /^\)/ { skipping = 0; next }
    !skipping { print }' ports/recall/portfile.cmake >"$dir/portfile.cmake"
  grep -q vcpkg_from_git "$dir/portfile.cmake"
}

vcpkg_install_clean() {
  local log=$1
  shift
  vcpkg install "$@" || return 1
  # Post-build validation reports problems as warnings: there must be none.
  ! grep -qi "warning" "$log"
}

check_vcpkg_triplet() {
  local triplet=$1 overlay=$2 installed=$work/vcpkg/installed-$1 features=()
  [ "$has_redis" = yes ] && features=(--x-feature=redis)
  step "vcpkg install recall:$triplet, post-build validation clean" \
    "$work/vcpkg-$triplet.log" vcpkg_install_clean "$work/vcpkg-$triplet.log" \
    --x-manifest-root="$repo/tests/consumer/find_package" "${features[@]}" \
    --triplet="$triplet" --overlay-ports="$overlay/system" --overlay-ports="$overlay/ports" \
    --binarysource=clear --x-install-root="$installed" --x-buildtrees-root="$work/vcpkg/buildtrees" \
    --x-packages-root="$work/vcpkg/packages" --downloads-root="$work/vcpkg/downloads" || return 0
  local usage=$installed/$triplet/share/recall/usage
  step "vcpkg usage names recall::recall, not xxHash::xxhash" "$work/vcpkg-usage.log" \
    sh -c "cat '$usage' && grep -q 'recall::recall' '$usage' && ! grep -q 'xxHash' '$usage'" || true
  local build=$work/vcpkg/consumer-$triplet
  rm -rf "$build"
  step "tests/consumer/find_package through vcpkg.json ($triplet)" \
    "$work/vcpkg-consumer-$triplet.log" \
    sh -c "cmake -S tests/consumer/find_package -B '$build' \
             -DCMAKE_TOOLCHAIN_FILE='$vcpkg_root/scripts/buildsystems/vcpkg.cmake' \
             -DVCPKG_MANIFEST_INSTALL=OFF -DVCPKG_INSTALLED_DIR='$installed' \
             -DVCPKG_TARGET_TRIPLET=$triplet -DCMAKE_BUILD_TYPE=Release \
           && cmake --build '$build' --parallel $jobs && '$build/consumer'" || true
}

check_vcpkg() {
  if ! command -v vcpkg >/dev/null; then
    summary+=("SKIP  vcpkg: not on PATH")
    say "SKIP  vcpkg is not on PATH. Install vcpkg (git clone https://github.com/microsoft/vcpkg"
    say "      && ./vcpkg/bootstrap-vcpkg.sh, or build vcpkg-tool as docs/packaging.md"
    say "      describes), put it on PATH, then run this again."
    return 0
  fi
  vcpkg_root=${VCPKG_ROOT:-$(dirname "$(readlink -f "$(command -v vcpkg)")")}
  export VCPKG_ROOT=$vcpkg_root VCPKG_FORCE_SYSTEM_BINARIES=1 VCPKG_MAX_CONCURRENCY=$jobs
  say "$(vcpkg --version | head -n 1)"
  if ! command -v patchelf >/dev/null; then
    summary+=("SKIP  vcpkg: patchelf not on PATH")
    say "SKIP  vcpkg fixes the rpath of what it installs with patchelf, which is not on"
    say "      PATH (and would be downloaded): apt-get install patchelf, then run this again."
    return 0
  fi
  if [ -n "$(git status --porcelain)" ]; then
    say "note: vcpkg builds the committed HEAD; uncommitted changes are not in it"
  fi
  local overlay=$work/vcpkg/overlay
  rm -rf "$overlay" "$work"/vcpkg/installed-* "$work/vcpkg/buildtrees" "$work/vcpkg/packages"
  write_system_ports "$overlay/system"
  write_recall_port "$overlay/ports/recall"
  check_vcpkg_triplet x64-linux "$overlay"
  check_vcpkg_triplet x64-linux-dynamic "$overlay"
  local features=()
  [ "$has_redis" = yes ] && features=(--x-feature=redis)
  step "vcpkg install in manifest mode (vcpkg.json)" "$work/vcpkg-manifest.log" \
    vcpkg install --x-manifest-root="$repo" --overlay-ports="$overlay/system" \
    --x-install-root="$work/vcpkg/installed-manifest" --binarysource=clear "${features[@]}" || true
}

say "recall $version, jobs $jobs, Redis target: $has_redis"
for part in "${parts[@]}"; do
  case $part in
    conan) check_conan ;;
    vcpkg) check_vcpkg ;;
    *) say "unknown part '$part' (use conan and/or vcpkg)"; exit 2 ;;
  esac
done
say "summary:"
printf '  %s\n' "${summary[@]}"
exit $failed
