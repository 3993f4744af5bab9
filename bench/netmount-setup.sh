#!/usr/bin/env bash
# Loopback network mounts for bench/multinode.py: one exported folder, mounted N times
# SEPARATELY (one mount per node, as separate PCs would), so that caching and locking
# across mounts are exercised. Root only, idempotent, for people; never run in CI.
#
#   bench/netmount-setup.sh up [N] [SSHFS_OPTS]   # sshd on 127.0.0.1:2222, N sshfs mounts
#   bench/netmount-setup.sh up-smb [N]            # smbd on 127.0.0.1:445, N smbnetfs mounts
#   bench/netmount-setup.sh probe                 # tries kernel NFS and CIFS, prints why not
#   bench/netmount-setup.sh down                  # unmounts all, stops sshd and smbd
#
# Exported folder: /srv/ecshare; sshfs mounts: /mnt/ec-node1 .. /mnt/ec-nodeN; SMB (FUSE
# smbnetfs over libsmbclient, SMB2/3): /mnt/ec-smbI/127.0.0.1/ec. Then, e.g.:
#   .venv/bin/python bench/multinode.py --node-roots /mnt/ec-node1,/mnt/ec-node2,/mnt/ec-node3 \
#       --check-root /srv/ecshare
# SSHFS_OPTS defaults to sshfs's own defaults (attribute and directory cache 20 s);
# e.g. "cache=no" or "cache_timeout=1" to see the difference.
#
# Why sshfs: on the machine this was written on (a container, kernel built with
# CONFIG_MODULES unset and no NFS/CIFS in it) `mount -t nfs4 127.0.0.1:/srv/ecshare`
# gives "mount.nfs4: No such device", `mount -t cifs` gives "mount error(19): No such
# device", and the kernel NFS server cannot start ("unknown filesystem type 'nfsd'").
# FUSE is built in, so a FUSE network client over a real server works.
set -euo pipefail

EXPORT=/srv/ecshare
STATE=/var/lib/ec-netmount
PORT=2222
MNT_PREFIX=/mnt/ec-node

need_root() { [ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }; }

install_pkgs() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

sshd_up() {
    install_pkgs openssh-server openssh-client sshfs
    mkdir -p "$STATE" /run/sshd "$EXPORT"
    chmod 700 "$STATE"
    [ -f "$STATE/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$STATE/host_ed25519"
    [ -f "$STATE/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$STATE/client_ed25519"
    cp "$STATE/client_ed25519.pub" "$STATE/authorized_keys"
    cat >"$STATE/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $STATE/host_ed25519
PidFile $STATE/sshd.pid
AuthorizedKeysFile $STATE/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 20
MaxStartups 20
Subsystem sftp internal-sftp
EOF
    if [ -f "$STATE/sshd.pid" ] && kill -0 "$(cat "$STATE/sshd.pid")" 2>/dev/null; then
        return
    fi
    /usr/sbin/sshd -f "$STATE/sshd_config"
    for _ in $(seq 50); do [ -f "$STATE/sshd.pid" ] && break; sleep 0.1; done
}

mount_sshfs() {
    local n=$1 opts=${2:-}
    local base="IdentityFile=$STATE/client_ed25519,port=$PORT,StrictHostKeyChecking=no"
    base+=",UserKnownHostsFile=/dev/null,LogLevel=ERROR,allow_other,reconnect"
    [ -n "$opts" ] && base+=",$opts"
    for i in $(seq "$n"); do
        local m="$MNT_PREFIX$i"
        mkdir -p "$m"
        if mountpoint -q "$m"; then continue; fi
        sshfs "root@127.0.0.1:$EXPORT" "$m" -o "$base"
    done
    mount | grep "$MNT_PREFIX" || true
}

smb_up() {
    local n=$1
    install_pkgs samba smbclient smbnetfs
    mkdir -p "$EXPORT" "$STATE"/samba/{private,lock,state,cache,pid,log}
    chmod 700 "$STATE"
    cat >"$STATE/smb.conf" <<EOF
[global]
  server role = standalone server
  interfaces = lo
  bind interfaces only = yes
  disable netbios = yes
  map to guest = Bad User
  server min protocol = SMB2
  private dir = $STATE/samba/private
  lock directory = $STATE/samba/lock
  state directory = $STATE/samba/state
  cache directory = $STATE/samba/cache
  pid directory = $STATE/samba/pid
  log file = $STATE/samba/log/%m.log
[ec]
  path = $EXPORT
  read only = no
  guest ok = yes
  force user = root
EOF
    local pidf="$STATE/samba/pid/smbd.pid"
    if ! { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }; then
        /usr/sbin/smbd -D -s "$STATE/smb.conf"
        sleep 1
    fi
    for i in $(seq "$n"); do
        # One smbnetfs (its own HOME, its own SMB sessions) per node, as separate PCs.
        local home="$STATE/smbnetfs-home$i" m="/mnt/ec-smb$i"
        mkdir -p "$home/.smb" "$m"
        printf '[global]\n  client min protocol = SMB2\n  client max protocol = SMB3\n' \
            >"$home/.smb/smb.conf"
        printf 'auth "guest" ""\nhost 127.0.0.1 visible=true\nsmb_query_browsers "false"\n' \
            >"$home/.smb/smbnetfs.conf"
        chmod 600 "$home/.smb/"*  # smbnetfs ignores a config others can read
        if mountpoint -q "$m"; then continue; fi
        HOME="$home" smbnetfs "$m" -o allow_other
    done
    mount | grep /mnt/ec-smb || true
}

probe() {
    install_pkgs nfs-common nfs-kernel-server cifs-utils
    mkdir -p "$EXPORT" /mnt/ec-probe
    grep -E 'nfs|cifs|smb3|fuse' /proc/filesystems || true
    exportfs -o rw,no_root_squash,fsid=1 "127.0.0.1:$EXPORT" || true
    mount -t nfsd nfsd /proc/fs/nfsd || true
    timeout 20 mount -t nfs4 "127.0.0.1:$EXPORT" /mnt/ec-probe || true
    timeout 20 mount -t cifs //127.0.0.1/ec /mnt/ec-probe -o guest || true
    exportfs -ua || true
    mountpoint -q /mnt/ec-probe && umount /mnt/ec-probe
    rmdir /mnt/ec-probe 2>/dev/null || true
}

down() {
    for m in "$MNT_PREFIX"* /mnt/ec-smb*; do
        [ -d "$m" ] || continue
        if mountpoint -q "$m"; then fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; fi
        rmdir "$m" 2>/dev/null || true
    done
    if [ -f "$STATE/sshd.pid" ]; then
        kill "$(cat "$STATE/sshd.pid")" 2>/dev/null || true
        rm -f "$STATE/sshd.pid"
    fi
    if [ -f "$STATE/samba/pid/smbd.pid" ]; then
        kill "$(cat "$STATE/samba/pid/smbd.pid")" 2>/dev/null || true
    fi
}

need_root
case "${1:-}" in
    up) sshd_up; mount_sshfs "${2:-3}" "${3:-}" ;;
    up-smb) smb_up "${2:-3}" ;;
    probe) probe ;;
    down) down ;;
    *) sed -n '2,23p' "$0"; exit 2 ;;
esac
