# shellcheck shell=bash
# Sourced by hack/guest-image.sh and hack/guest-vm-image.sh: the image cache both keep.
#
# An image lives in ${XDG_CACHE_HOME:-~/.cache}/dockerhost-azure/guests/NAME-HASH, HASH covering the calling
# script, this file and the values the caller names, so only the first run builds it and any edit makes a
# new one. It is built in a temporary directory next to its final place and renamed into it, so an
# interrupted build leaves nothing that looks finished; a lock per NAME serialises concurrent builds. Each use
# touches the image; images of NAME unused for 7 days are removed after a build (not at once: another
# checkout with another version of the scripts may be using one).

# guest_cache_begin NAME MARKER SCRIPT [VALUE...]: print the image's path and exit when it is cached (its
# MARKER file exists); otherwise take the lock and set guest_tmp (a scratch directory removed on exit),
# guest_target and guest_start (for the build's seconds).
guest_cache_begin() {
  guest_name=$1
  local marker=$2 script=$3 hash
  shift 3
  hash=$({
    cat "$script" "${BASH_SOURCE[0]}"
    printf '%s\n' "$@"
  } | sha256sum | cut -c1-16)
  guest_cache=${XDG_CACHE_HOME:-$HOME/.cache}/dockerhost-azure/guests
  guest_target=$guest_cache/$guest_name-$hash
  if [ -f "$guest_target/$marker" ]; then
    touch "$guest_target"
    printf '%s\n' "$guest_target"
    exit 0
  fi
  mkdir -p "$guest_cache"
  exec 9>"$guest_cache/.$guest_name.lock"
  flock -w 1800 9 || {
    log "another build of $guest_name holds $guest_cache/.$guest_name.lock"
    exit 1
  }
  if [ -f "$guest_target/$marker" ]; then # built by whoever held the lock
    printf '%s\n' "$guest_target"
    exit 0
  fi
  guest_tmp=$(mktemp -d "$guest_cache/.$guest_name-build.XXXXXX")
  trap 'rm -rf "$guest_tmp"' EXIT
  guest_start=$SECONDS
}

# guest_build_record FILE [KEY VALUE...]: write the build's record (JSON: the seconds since
# guest_cache_begin, when, and the caller's values: whole numbers as numbers, the rest as strings without quotes
# or backslashes); the benchmarks read the fresh-machine cost from it.
guest_build_record() {
  local file=$1 extra=""
  shift
  while [ $# -ge 2 ]; do
    case $2 in
      '' | *[!0-9]*) extra+=$(printf ', "%s": "%s"' "$1" "$2") ;;
      *) extra+=$(printf ', "%s": %s' "$1" "$2") ;; # a whole number stays a JSON number
    esac
    shift 2
  done
  printf '{"name": "%s", "build_seconds": %d, "built": "%s"%s}\n' \
    "$guest_name" "$((SECONDS - guest_start))" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$extra" >"$file"
}

# guest_cache_finish DIR: rename the finished DIR into place, prune NAME's stale images, print the path.
guest_cache_finish() {
  mv "$1" "$guest_target"
  find "$guest_cache" -mindepth 1 -maxdepth 1 -type d -name "$guest_name-*" ! -path "$guest_target" -mtime +7 \
    -exec rm -rf {} +
  printf '%s\n' "$guest_target"
}
