#!/bin/sh
# Install econnector as a systemd service on Debian (`make install-unit`, as root).
# What it lays down matches service/econnector.service (docs/install-linux.md):
#   /opt/econnector/.venv            a venv with the wheel built from this tree (ExecStart=)
#   /opt/econnector/docs/            the docs (the unit's Documentation=)
#   user and group econnector        a system user, no login (User=, Group=)
#   /etc/econnector/econnector.yaml  from config/econnector.example.yaml, only if absent
#                                    (ECONNECTOR_CONFIG=; root:econnector 0640)
#   /var/lib/econnector/{outbox,inbox}, /var/log/econnector   (ReadWritePaths=)
#   /etc/systemd/system/econnector.service and econnector@.service, then daemon-reload
# It never enables or starts the service: edit the config, run check-config first.
#
# usage: service/install.sh [--dry-run] [--wheel FILE]
#   --dry-run     print each step's command, change nothing
#   --wheel FILE  install this wheel instead of building one from this tree
#   DESTDIR=DIR   lay everything down under DIR (a staged root, e.g. for a test or a
#                 package): no user is created, nothing is chowned, systemctl not run
#   PYTHON=...    the Python that makes the venv (default python3, 3.11 or newer)
#   PIP_INSTALL_OPTS=...  extra options for pip install (e.g. --no-deps in a test)
#   PIP=...       a pip command that installs into the venv (e.g. another Python's
#                 `python -m pip --python /opt/econnector/.venv/bin/python`): the venv
#                 is then made without a pip of its own
set -eu

PYTHON=${PYTHON:-python3}
DESTDIR=${DESTDIR:-}
PIP_INSTALL_OPTS=${PIP_INSTALL_OPTS:-}
PIP=${PIP:-}
DRY=0
WHEEL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --wheel) WHEEL=$2; shift ;;
    --wheel=*) WHEEL=${1#--wheel=} ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
USER_NAME=econnector
PREFIX=$DESTDIR/opt/econnector
VENV=$PREFIX/.venv
ETC=$DESTDIR/etc/econnector
STATE=$DESTDIR/var/lib/econnector
LOGS=$DESTDIR/var/log/econnector
UNITS=$DESTDIR/etc/systemd/system

say() { echo "econnector install: $*"; }
run() {
  if [ "$DRY" = 1 ]; then echo "+ $*"; else "$@"; fi
}
# Ownership only on the real system: a staged root (DESTDIR) has no such user.
owned() {  # owned OWNER:GROUP MODE DIR...
  spec=$1 mode=$2; shift 2
  if [ -n "$DESTDIR" ]; then
    run install -d -m "$mode" "$@"
  else
    run install -d -o "${spec%%:*}" -g "${spec##*:}" -m "$mode" "$@"
  fi
}

if [ -z "$DESTDIR" ] && [ "$DRY" = 0 ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo make install-unit), or with --dry-run or DESTDIR=" >&2
  exit 1
fi
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null \
  || { echo "install.sh: $PYTHON is not Python 3.11 or newer (set PYTHON=)" >&2; exit 1; }

# 1. The service user (no home folder of its own beyond the state folder, no shell).
if [ -n "$DESTDIR" ]; then
  say "DESTDIR set: user $USER_NAME not created, files not chowned"
elif getent passwd "$USER_NAME" >/dev/null 2>&1; then
  say "user $USER_NAME exists"
else
  run useradd --system --user-group --home-dir /var/lib/econnector --no-create-home \
      --shell /usr/sbin/nologin "$USER_NAME"
fi

# 2. The folders: the program's (root's), the config's (root, readable by the service),
#    the service's own (its ReadWritePaths=). The daemon makes archive/, failed/, work/.
run install -d -m 0755 "$PREFIX" "$PREFIX/docs" "$UNITS"
owned "root:$USER_NAME" 0750 "$ETC"
owned "$USER_NAME:$USER_NAME" 0750 "$STATE" "$STATE/outbox" "$STATE/inbox" "$LOGS"

# 3. The wheel, into the venv (a new venv once; an upgrade replaces the package in it).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -x "$VENV/bin/python" ]; then
  run "$PYTHON" -m venv ${PIP:+--without-pip} "$VENV"
fi
PIP=${PIP:-$VENV/bin/python -m pip}
if [ -z "$WHEEL" ]; then
  # shellcheck disable=SC2086  # PIP is a command with its arguments
  run $PIP wheel --quiet --no-deps --wheel-dir "$tmp" "$REPO"
  WHEEL="$tmp/econnector-*.whl"
fi
# The dependencies as the wheel asks, then the wheel itself again: a rebuilt tree with
# an unchanged version number must still replace the installed code.
for opts in "--upgrade $PIP_INSTALL_OPTS" "--force-reinstall --no-deps"; do
  if [ "$DRY" = 1 ]; then
    echo "+ $PIP install --quiet $opts $WHEEL"
  else
    # shellcheck disable=SC2086  # the command, options and the wheel's glob are meant to split
    $PIP install --quiet $opts $WHEEL
  fi
done
run cp "$REPO"/docs/*.md "$PREFIX/docs/"

# 4. The config, only when there is none: an upgrade never overwrites it.
if [ -e "$ETC/econnector.yaml" ]; then
  say "$ETC/econnector.yaml exists, kept"
elif [ -n "$DESTDIR" ]; then
  run install -m 0640 "$REPO/config/econnector.example.yaml" "$ETC/econnector.yaml"
else
  run install -o root -g "$USER_NAME" -m 0640 "$REPO/config/econnector.example.yaml" \
      "$ETC/econnector.yaml"
fi

# 5. The units, and systemd told about them (only where systemd runs the machine).
run install -m 0644 "$REPO/service/econnector.service" "$REPO/service/econnector@.service" \
    "$UNITS/"
if [ -n "$DESTDIR" ]; then
  say "DESTDIR set: systemctl daemon-reload skipped"
elif [ ! -d /run/systemd/system ]; then
  say "systemd is not running this machine (PID 1): systemctl daemon-reload skipped;" \
      "run it once systemd runs"
else
  run systemctl daemon-reload
fi

say "installed $( [ "$DRY" = 1 ] && echo '(dry run) ')into $VENV"
say "next: edit $ETC/econnector.yaml (keys, vault), then"
say "  sudo -u $USER_NAME $VENV/bin/econnector check-config -c /etc/econnector/econnector.yaml"
say "  sudo systemctl enable --now econnector && $VENV/bin/econnector doctor"
