#!/usr/bin/env bash
# Peer "shell": what a practice's IT would script instead of econnector.
#
#   bench/peers/shell_pipeline.sh [--watch N [--ready-file F]] IN CONFIG
#
# For each IN/<stem>.pdf with its sidecar IN/<stem>.json (econnector format), one
# document at a time:
#   1. sign it with the pyHanko CLI (PAdES B-B, ETSI.CAdES.detached, SHA-256),
#      one `pyhanko` process per document, the PKCS#12 opened each time;
#   2. build the vault metadata with jq (the sidecar without `schema`, plus
#      `original_sha256` = sha256sum of the original PDF);
#   3. compute the Idempotency-Key exactly like econnector
#      ("ec1-" + first 48 hex of sha256("econnector/v1\0<provider>\0<document_id>"));
#   4. upload with one curl per document (TLS verified with the config's CA bundle).
#
# Without --watch: processes the PDFs already in IN (sorted), then exits.
# With --watch N: runs `inotifywait -m -e close_write,moved_to IN`, processes a
# document when both its files have been completely written (closed or renamed
# into IN), and exits after N documents. Once the watch is established it prints
# "shell_pipeline: watching IN" on stderr and creates --ready-file F (if given):
# drop the files only after that.
#
# Prints ONE JSON line on stdout:
#   {"peer": "shell", "documents": n, "seconds": wall, "cpu_seconds": cpu,
#    "ok": uploaded_200_or_201, "failed": n}
# wall runs from the first inotify event (watch mode) or from the start of the
# loop; cpu is user+sys of this shell and every process it started and reaped
# (bash's `times`: pyhanko, jq, sha256sum, curl, inotifywait, tail).
#
# CONFIG is JSON: {"vault_url", "token", "ca_bundle",
#                  "identities": {"<provider_code>": {"pkcs12", "passphrase_file"}}}
# The pyHanko CLI is $PYHANKO, else the repo venv's, else `pyhanko` on PATH.
# Needs: bash >= 5, jq, curl >= 7.76, coreutils, inotify-tools (watch mode), pyhanko-cli.

set -u -o pipefail

usage() {
    echo "usage: $0 [--watch N [--ready-file F]] IN CONFIG" >&2
    exit 2
}

WATCH=0
READY_FILE=""
POSITIONAL=()
while (($#)); do
    case $1 in
        --watch) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || usage; WATCH=$2; shift 2 ;;
        --ready-file) [[ $# -ge 2 ]] || usage; READY_FILE=$2; shift 2 ;;
        -h|--help) usage ;;
        --*) usage ;;
        *) POSITIONAL+=("$1"); shift ;;
    esac
done
((${#POSITIONAL[@]} == 2)) || usage
IN=${POSITIONAL[0]%/}
CONFIG=${POSITIONAL[1]}
[[ -d $IN ]] || { echo "shell_pipeline: no such folder: $IN" >&2; exit 2; }

HERE=$(cd "$(dirname "$0")" && pwd)
if [[ -z ${PYHANKO:-} ]]; then
    if [[ -x $HERE/../../.venv/bin/pyhanko ]]; then
        PYHANKO=$HERE/../../.venv/bin/pyhanko
    else
        PYHANKO=$(command -v pyhanko) || { echo "shell_pipeline: pyhanko CLI not found" >&2; exit 2; }
    fi
fi

# -- configuration (read once) -------------------------------------------------------------------
URL=$(jq -er '.vault_url | rtrimstr("/")' "$CONFIG") || exit 2
CA=$(jq -er '.ca_bundle' "$CONFIG") || exit 2
declare -A P12 PASS
while IFS=$'\t' read -r pc p12 pass; do
    P12[$pc]=$p12
    PASS[$pc]=$pass
done < <(jq -er '.identities | to_entries[] | [.key, .value.pkcs12, .value.passphrase_file] | @tsv' "$CONFIG")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shell_pipeline.XXXXXX")
BG_PIDS=()
cleanup() {
    ((${#BG_PIDS[@]})) && kill "${BG_PIDS[@]}" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The bearer token goes in a 0600 header file, not on curl's command line (ps).
(umask 077; jq -er '"Authorization: Bearer " + .token' "$CONFIG" > "$WORK/auth.hdr") || exit 2

OK=0
FAILED=0

fail() {  # stem, reason
    FAILED=$((FAILED + 1))
    echo "shell_pipeline: $1: $2" >&2
}

process_one() {  # stem
    local stem=$1
    local pdf="$IN/$stem.pdf" side="$IN/$stem.json"
    local signed="$WORK/signed.pdf" meta="$WORK/meta.json"
    local fields pc docid orig key code

    fields=$(jq -er '[.author.provider_code, .document_id] | @tsv' "$side") \
        || { fail "$stem" "unreadable sidecar"; return; }
    IFS=$'\t' read -r pc docid <<< "$fields"
    [[ -n ${P12[$pc]:-} ]] || { fail "$stem" "no identity for provider $pc"; return; }

    orig=$(sha256sum < "$pdf") || { fail "$stem" "unreadable PDF"; return; }
    orig=${orig%% *}
    key=$(printf 'econnector/v1\0%s\0%s' "$pc" "$docid" | sha256sum)
    key="ec1-${key:0:48}"

    rm -f "$signed"
    if ! "$PYHANKO" sign addsig --field Sig1 --use-pades --no-strict-syntax \
            pkcs12 --passfile "${PASS[$pc]}" "$pdf" "$signed" "${P12[$pc]}" \
            > "$WORK/sign.log" 2>&1; then
        fail "$stem" "signing failed: $(tail -n 1 "$WORK/sign.log")"
        return
    fi

    jq -c --arg sha "$orig" 'del(.schema) + {original_sha256: $sha}' "$side" > "$meta" \
        || { fail "$stem" "metadata"; return; }

    code=$(curl -sS --fail-with-body --cacert "$CA" \
        -H @"$WORK/auth.hdr" -H "Idempotency-Key: $key" -H "Accept: application/json" \
        -F "metadata=<$meta;type=application/json" \
        -F "file=@$signed;type=application/pdf;filename=$stem.pdf" \
        -o "$WORK/response.json" -w '%{http_code}' \
        "$URL/v1/documents" 2> "$WORK/curl.err")
    case $code in
        200|201) OK=$((OK + 1)) ;;
        *) fail "$stem" "upload: HTTP ${code:-none} $(head -c 300 "$WORK/response.json" 2>/dev/null) $(cat "$WORK/curl.err")" ;;
    esac
    rm -f "$signed" "$meta" "$WORK/response.json"
}

usec() {  # $EPOCHREALTIME (locale may use a comma) -> integer microseconds
    local t=${1/,/.}
    local s=${t%.*} f=${t#*.}000000
    echo $((10#$s * 1000000 + 10#${f:0:6}))
}

msec_of() {  # "1m2.345s" -> 62345
    [[ $1 =~ ^([0-9]+)m([0-9]+)[.,]([0-9]+)s$ ]] || { echo 0; return; }
    local frac=${BASH_REMATCH[3]}000
    echo $((10#${BASH_REMATCH[1]} * 60000 + 10#${BASH_REMATCH[2]} * 1000 + 10#${frac:0:3}))
}

T0=""
PROCESSED=0

if ((WATCH > 0)); then
    EVENTS="$WORK/events"
    : > "$EVENTS"
    # Events go to a regular file, so inotifywait drains the kernel queue at once and
    # thousands of drops cannot overflow it while a document is being signed.
    inotifywait -m -e close_write -e moved_to --format '%f' "$IN" \
        > "$EVENTS" 2> "$WORK/inotify.err" &
    INW=$!
    BG_PIDS+=("$INW")
    until grep -q 'Watches established' "$WORK/inotify.err" 2>/dev/null; do
        kill -0 "$INW" 2>/dev/null || { cat "$WORK/inotify.err" >&2; exit 2; }
        sleep 0.01
    done
    coproc TAILER { exec tail -n +1 -f "$EVENTS"; }
    TAIL_PID=$TAILER_PID
    BG_PIDS+=("$TAIL_PID")
    exec 3<&"${TAILER[0]}"
    echo "shell_pipeline: watching $IN" >&2
    [[ -n $READY_FILE ]] && : > "$READY_FILE"

    declare -A HAVE_PDF HAVE_JSON DONE
    while ((PROCESSED < WATCH)) && IFS= read -r name <&3; do
        [[ -n $T0 ]] || T0=$EPOCHREALTIME
        case $name in
            ?*.pdf) stem=${name%.pdf}; HAVE_PDF[$stem]=1 ;;
            ?*.json) stem=${name%.json}; HAVE_JSON[$stem]=1 ;;
            *) continue ;;
        esac
        if [[ -n ${HAVE_PDF[$stem]:-} && -n ${HAVE_JSON[$stem]:-} && -z ${DONE[$stem]:-} ]]; then
            DONE[$stem]=1
            process_one "$stem"
            PROCESSED=$((PROCESSED + 1))
        fi
    done
    exec 3<&-
    kill "$INW" "$TAIL_PID" 2>/dev/null
    wait "$INW" "$TAIL_PID" 2>/dev/null  # reaped, so their CPU time is in `times`
    BG_PIDS=()
else
    T0=$EPOCHREALTIME
    for pdf in "$IN"/*.pdf; do
        [[ -f $pdf ]] || continue
        name=${pdf##*/}
        stem=${name%.pdf}
        PROCESSED=$((PROCESSED + 1))
        if [[ ! -f $IN/$stem.json ]]; then
            fail "$stem" "no sidecar"
            continue
        fi
        process_one "$stem"
    done
fi
T1=$EPOCHREALTIME
[[ -n $T0 ]] || T0=$T1

times > "$WORK/times"
{ read -r su ss; read -r cu cs; } < "$WORK/times"
CPU_MS=$(($(msec_of "$su") + $(msec_of "$ss") + $(msec_of "$cu") + $(msec_of "$cs")))
WALL_US=$(($(usec "$T1") - $(usec "$T0")))

printf '{"peer": "shell", "documents": %d, "seconds": %d.%06d, "cpu_seconds": %d.%03d, "ok": %d, "failed": %d}\n' \
    "$PROCESSED" $((WALL_US / 1000000)) $((WALL_US % 1000000)) \
    $((CPU_MS / 1000)) $((CPU_MS % 1000)) "$OK" "$FAILED"
