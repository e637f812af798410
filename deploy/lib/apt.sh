# Sourced by the deploy scripts: installs the Debian packages a script found missing. Does nothing
# when none are; names them and fails when we are not root, so no script silently half-works.
apt_install_missing() {
  local who=$1
  shift
  [ $# -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "$who: missing Debian packages: $* (sudo apt-get install $*)" >&2
    exit 1
  fi
  echo "$who: installing $*" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}
