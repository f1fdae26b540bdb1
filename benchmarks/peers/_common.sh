# Sourced by the setup scripts: where the peers go, and how their source is brought here.
set -euo pipefail
PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/_peers"  # git-ignored
MIRROR="${PEER_MIRROR:-/work/.mirror}"  # where the search tool's `fetch github:OWNER/NAME` leaves its git dirs
mkdir -p "$PEERS"

# source OWNER/NAME DEST: the repository's HEAD, unpacked into DEST (once). The source is never committed here:
# it comes from a git dir of the repository (fetched) or, with PEER_SRC_OWNER_NAME=DIR, from a checkout.
source_of() {
  local repo="$1" dest="$2" var git
  [ -e "$dest/.complete" ] && return 0
  var="PEER_SRC_$(echo "${repo//[\/-]/_}" | tr a-z A-Z)"
  git="$MIRROR/${repo/\//+}/repo"
  rm -rf "$dest" && mkdir -p "$dest"
  if [ -n "${!var:-}" ]; then
    cp -r "${!var}/." "$dest/"
  elif [ -d "$git" ]; then
    git --git-dir="$git" archive HEAD | tar -x -C "$dest"
    git --git-dir="$git" rev-parse HEAD > "$dest/.commit"
  else
    echo "no source of $repo: fetch github:$repo (the search tool) or set $var to a checkout" >&2
    return 1
  fi
  touch "$dest/.complete"
}
