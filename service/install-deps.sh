#!/bin/sh
# Install the Debian packages econnector needs, when missing and running as root.
#   python: what `make run` needs (a venv-capable Python 3.11+)
#   test:   what the test suite needs in addition (pdfsig, qpdf, useradd, setpriv,
#           softhsm2-util, pkcs11-tool, systemd-analyze)
# As non-root, say what is missing instead of failing silently.
set -eu
need=""
case "${1:-python}" in
  python)
    python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null \
      || { echo "econnector needs Python 3.11 or newer" >&2; exit 1; }
    python3 -c 'import ensurepip, venv' 2>/dev/null || need="$need python3-venv"
    ;;
  test)
    command -v pdfsig >/dev/null 2>&1 || need="$need poppler-utils"
    command -v qpdf >/dev/null 2>&1 || need="$need qpdf"
    # the benchmark (a smoke run is part of the tests) and its shell-pipeline peer
    command -v inotifywait >/dev/null 2>&1 || need="$need inotify-tools"
    command -v jq >/dev/null 2>&1 || need="$need jq"
    command -v curl >/dev/null 2>&1 || need="$need curl"
    [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need="$need fonts-dejavu-core"
    # the security tests: a second OS user and group, a daemon without DAC override
    command -v useradd >/dev/null 2>&1 || need="$need passwd"
    command -v setpriv >/dev/null 2>&1 || need="$need util-linux"
    command -v runuser >/dev/null 2>&1 || need="$need util-linux"
    # PKCS#11 identities: a real software token (SoftHSM2) and pkcs11-tool to fill it
    command -v softhsm2-util >/dev/null 2>&1 || need="$need softhsm2"
    command -v pkcs11-tool >/dev/null 2>&1 || need="$need opensc"
    # invoice QR codes: decode what the signed page shows (pdftoppm is poppler-utils)
    command -v zbarimg >/dev/null 2>&1 || need="$need zbar-tools"
    # the systemd units: systemd-analyze verify and security (no running systemd needed)
    command -v systemd-analyze >/dev/null 2>&1 || need="$need systemd"
    ;;
esac
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages:$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -qq $need >/dev/null
else
  echo "econnector: please install these packages:$need" >&2
  exit 1
fi
