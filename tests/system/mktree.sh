#!/usr/bin/env bash
# mktree.sh - generate a hermetic, DNSSEC-signed DNS tree for recmesh system tests.
#
# Usage: mktree.sh OUTDIR NET ZONES NAMES_PER_ZONE
#
#   OUTDIR          directory to create/fill (existing contents are overwritten)
#   NET             loopback /16 prefix, e.g. 127.53 (one per concurrently running test)
#   ZONES           number of leaf zones z<i>.<tld>, i = 1..ZONES, tld = com, net, org in turn
#   NAMES_PER_ZONE  number of names (qname/qtype pairs of names.txt) per leaf zone
#
# Environment:
#   RM_LEAF_BACKEND  ADDR[@PORT]: if set, the leaf NSD listens only there instead of on
#                    every leaf server address (so a UDP relay can own those addresses).
#   RM_SIGN_JOBS     parallel signing jobs (default: number of CPUs)
#
# Address plan (all port 53 unless RM_LEAF_BACKEND says otherwise):
#   NET.0.1                   root server  a.root-servers.hermetic.
#   NET.1.1, NET.1.2          TLD servers  ns1/ns2.tld-servers.hermetic. (com., net., org.)
#   NET.(2+2k).x, NET.(3+2k).x  ns1/ns2.z<i>.<tld>. with k = (i-1)/250, x = (i-1)%250 + 1
#                             (zones 1..250 on NET.2.x/NET.3.x, 251..500 on NET.4.x/NET.5.x, ...)
#   Data (never contacted):   A records in 198.18.0.0/15, AAAA in 2001:db8::/32.
#   The name server names live in the root zone itself (hermetic. is not delegated), so
#   the root and TLD servers need no out-of-zone glue.
#
# Output in OUTDIR:
#   zones/*.zone, zones/*.signed   unsigned and signed zone files (root.zone = ".")
#   keys/                          one ECDSAP256SHA256 CSK (flags 257) per zone + DS records
#   nsd-root.conf, nsd-tld.conf, nsd-leaf.conf   three NSD instances (see below)
#   nsd-instances.txt  "NAME CONF PROBE..." with PROBE = zone/address[/port]; how lib.sh
#                      starts them: nsd -d -c OUTDIR/CONF, ready when every PROBE answers SOA
#   hints              root hints for the recursor (hint-file=)
#   recursor-ta.lua    trust anchor for the hermetic root (for lua-config-file)
#   names.txt          "qname qtype" per line, one per name of every leaf zone (dnsperf format)
#   leaf-servers.txt   "zone ns-address" per line, one per leaf NS address
#   tree.env           shell variables describing the tree (NET, addresses, counts)
#
# Why three NSD instances: NSD answers every zone it has on every address it listens on;
# root, TLDs and leaves on one instance would let the recursor skip the delegations.
#
# Leaf zone contents for name index j = 0..NAMES_PER_ZONE-1 (r = j % 10):
#   j = 0: www A;  j = 3: alias CNAME www (listed as "alias... A" in names.txt);
#   r = 6: n<j> AAAA;  r = 7: n<j> MX 10 www;  r = 8: n<j> TXT;  otherwise n<j> A.
#   A address of name j in zone i: 198.18.0.0 + ((i-1)*NAMES_PER_ZONE + j + 1) (mod 2^17).
#   TTLs rotate over 300 600 900 1800 3600 by (i+j) % 5. No wildcards: other names are NXDOMAIN.
# shellcheck disable=SC2016  # zone file text with literal $ORIGIN / $TTL
set -euo pipefail

export PATH="/usr/sbin:/sbin:$PATH"
readonly ALG=ECDSAP256SHA256
readonly TTLS=(300 600 900 1800 3600)
readonly TLDS=(com net org)

# --- internal mode: sign the zones named on the command line (run by xargs -P) -----------
# mktree.sh --sign OUTDIR INCEPTION EXPIRATION ORIGIN...
# For each ORIGIN: make a CSK, sign zones/<file>.zone into zones/<file>.signed and write
# the DS record (SHA-256) to keys/<file>.ds. ldns-keygen already writes a .ds file next to
# the key; it is used when it has digest type 2 (saves an ldns-key2ds run per zone).
if [[ ${1:-} == --sign ]]; then
    shift
    dir=$1 inception=$2 expiration=$3
    shift 3
    cd "$dir/keys"
    for origin in "$@"; do
        file=${origin%.}
        file=${file:-root}
        key=$(ldns-keygen -a "$ALG" -k "$origin")
        ldns-signzone -i "$inception" -e "$expiration" -o "$origin" \
            -f "$dir/zones/$file.signed" "$dir/zones/$file.zone" "$key"
        read -r owner _ _ tag alg digest_type digest <"$key.ds"
        if [[ $owner == "$origin" && $digest_type == 2 ]]; then
            printf '%s\t3600\tIN\tDS\t%s %s %s %s\n' "$owner" "$tag" "$alg" "$digest_type" "$digest" >"$file.ds"
        else
            ldns-key2ds -n -2 "$key.key" >"$file.ds"
        fi
    done
    exit 0
fi

usage() { echo "usage: $0 OUTDIR NET ZONES NAMES_PER_ZONE" >&2; exit 2; }
[[ $# -eq 4 ]] || usage
OUT=$1 NET=$2 ZONES=$3 NAMES=$4
{ [[ $NET =~ ^127\.([0-9]{1,3})$ ]] && ((BASH_REMATCH[1] <= 255)); } \
    || { echo "mktree.sh: NET must be a loopback /16 prefix like 127.53, got '$NET'" >&2; exit 2; }
[[ $ZONES =~ ^[1-9][0-9]*$ && $NAMES =~ ^[1-9][0-9]*$ ]] \
    || { echo "mktree.sh: ZONES and NAMES_PER_ZONE must be positive integers" >&2; exit 2; }
# Third octets 2..253 hold leaf servers (NET.254/NET.255 stay free, e.g. for a backend).
((ZONES <= 250 * 126)) || { echo "mktree.sh: at most $((250 * 126)) zones" >&2; exit 2; }
for tool in ldns-keygen ldns-signzone ldns-key2ds nsd; do
    command -v "$tool" >/dev/null || { echo "mktree.sh: $tool not found" >&2; exit 1; }
done

OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
rm -rf "$OUT/zones" "$OUT/keys"
mkdir -p "$OUT/zones" "$OUT/keys"

ROOT_ADDR=$NET.0.1
TLD_ADDR1=$NET.1.1
TLD_ADDR2=$NET.1.2

# leaf_tld I: the TLD of leaf zone I (com, net, org in turn).
leaf_tld() { REPLY=${TLDS[($1 - 1) % 3]}; }
# leaf_ns_addr I N: address of ns<N>.z<I>.<tld> (N = 1 or 2), see the address plan above.
leaf_ns_addr() { REPLY=$NET.$((2 + 2 * (($1 - 1) / 250) + $2 - 1)).$((($1 - 1) % 250 + 1)); }
# data_a I J: the A record address of name J in zone I (198.18.0.0/15).
data_a() {
    local idx=$(((($1 - 1) * NAMES + $2 + 1) % 131072))
    REPLY=198.$((18 + (idx >> 16))).$(((idx >> 8) & 255)).$((idx & 255))
}

# --- leaf zones, names.txt, leaf-servers.txt and the delegations for the TLD zones --------
declare -A DELEG # tld -> delegation records (NS + glue; DS is added after signing)
for tld in "${TLDS[@]}"; do DELEG[$tld]=""; done
LEAF_ORIGINS=()
{
    exec 3>"$OUT/names.txt" 4>"$OUT/leaf-servers.txt"
    for ((i = 1; i <= ZONES; i++)); do
        leaf_tld "$i"; tld=$REPLY
        zone=z$i.$tld
        leaf_ns_addr "$i" 1; ns1=$REPLY
        leaf_ns_addr "$i" 2; ns2=$REPLY
        LEAF_ORIGINS+=("$zone.")
        printf '%s %s\n%s %s\n' "$zone" "$ns1" "$zone" "$ns2" >&4
        DELEG[$tld]+="z$i 3600 IN NS ns1.z$i
z$i 3600 IN NS ns2.z$i
ns1.z$i 3600 IN A $ns1
ns2.z$i 3600 IN A $ns2
"
        {
            printf '$ORIGIN %s.\n$TTL 3600\n' "$zone"
            printf '@ 3600 IN SOA ns1 hostmaster 1 3600 600 86400 300\n'
            printf '@ 3600 IN NS ns1\n@ 3600 IN NS ns2\n'
            printf 'ns1 3600 IN A %s\nns2 3600 IN A %s\n' "$ns1" "$ns2"
            for ((j = 0; j < NAMES; j++)); do
                ttl=${TTLS[(i + j) % 5]}
                if ((j == 0)); then
                    data_a "$i" "$j"
                    printf 'www %d IN A %s\n' "$ttl" "$REPLY"
                    printf '%s A\n' "www.$zone" >&3
                    continue
                fi
                if ((j == 3)); then
                    printf 'alias %d IN CNAME www\n' "$ttl"
                    printf '%s A\n' "alias.$zone" >&3
                    continue
                fi
                case $((j % 10)) in
                    6) printf 'n%d %d IN AAAA 2001:db8:%x::%x\n' "$j" "$ttl" "$i" "$j"
                       type=AAAA ;;
                    7) printf 'n%d %d IN MX 10 www\n' "$j" "$ttl"
                       type=MX ;;
                    8) printf 'n%d %d IN TXT "recmesh test data zone=%s name=%d"\n' "$j" "$ttl" "$zone" "$j"
                       type=TXT ;;
                    *) data_a "$i" "$j"
                       printf 'n%d %d IN A %s\n' "$j" "$ttl" "$REPLY"
                       type=A ;;
                esac
                printf 'n%d.%s %s\n' "$j" "$zone" "$type" >&3
            done
        } >"$OUT/zones/$zone.zone"
    done
    exec 3>&- 4>&-
}

# Signatures valid from an hour ago (tolerates small clock differences) for 30 days.
INCEPTION=$(date -u -d '-1 hour' +%Y%m%d%H%M%S)
EXPIRATION=$(date -u -d '+30 days' +%Y%m%d%H%M%S)
JOBS=${RM_SIGN_JOBS:-$(nproc 2>/dev/null || echo 2)}

# sign_all ORIGIN...: sign zones in parallel batches (a batch amortises process start-up).
sign_all() {
    local batch=$(( ($# + JOBS * 4 - 1) / (JOBS * 4) ))
    ((batch >= 1)) || batch=1
    printf '%s\n' "$@" | xargs -d '\n' -P "$JOBS" -n "$batch" \
        "$BASH" "$SELF" --sign "$OUT" "$INCEPTION" "$EXPIRATION"
}
sign_all "${LEAF_ORIGINS[@]}"

# --- TLD zones: apex, delegations with glue, DS of every child ----------------------------
for tld in "${TLDS[@]}"; do
    {
        printf '$ORIGIN %s.\n$TTL 3600\n' "$tld"
        printf '@ 86400 IN SOA ns1.tld-servers.hermetic. hostmaster.tld-servers.hermetic. 1 3600 600 86400 300\n'
        printf '@ 86400 IN NS ns1.tld-servers.hermetic.\n@ 86400 IN NS ns2.tld-servers.hermetic.\n'
        printf '%s' "${DELEG[$tld]}"
    } >"$OUT/zones/$tld.zone"
done
for ((i = 1; i <= ZONES; i++)); do
    leaf_tld "$i"
    printf '%s\n' "$(<"$OUT/keys/z$i.$REPLY.ds")" >>"$OUT/zones/$REPLY.zone"
done
sign_all com. net. org.

# --- root zone -----------------------------------------------------------------------------
{
    printf '$ORIGIN .\n$TTL 86400\n'
    printf '. 86400 IN SOA a.root-servers.hermetic. hostmaster.root-servers.hermetic. 1 1800 900 604800 300\n'
    printf '. 518400 IN NS a.root-servers.hermetic.\n'
    printf 'a.root-servers.hermetic. 518400 IN A %s\n' "$ROOT_ADDR"
    printf 'ns1.tld-servers.hermetic. 172800 IN A %s\n' "$TLD_ADDR1"
    printf 'ns2.tld-servers.hermetic. 172800 IN A %s\n' "$TLD_ADDR2"
    for tld in "${TLDS[@]}"; do
        printf '%s. 172800 IN NS ns1.tld-servers.hermetic.\n' "$tld"
        printf '%s. 172800 IN NS ns2.tld-servers.hermetic.\n' "$tld"
        printf '%s\n' "$(<"$OUT/keys/$tld.ds")"
    done
} >"$OUT/zones/root.zone"
sign_all .

# --- recursor inputs -------------------------------------------------------------------------
cat >"$OUT/hints" <<EOF
.                        3600000 IN NS a.root-servers.hermetic.
a.root-servers.hermetic. 3600000 IN A  $ROOT_ADDR
EOF
read -r _ _ _ _ ds_rdata <"$OUT/keys/root.ds"
cat >"$OUT/recursor-ta.lua" <<EOF
-- Trust anchor of the hermetic root generated by mktree.sh (replaces the built-in root TA).
clearTA('.')
addTA('.', "$ds_rdata")
EOF

# --- NSD configurations ----------------------------------------------------------------------
# nsd_conf NAME ADDRESS... : the server/remote-control part of OUTDIR/nsd-NAME.conf.
# Everything an NSD would otherwise write under /var or /etc is kept in OUTDIR, so several
# trees can run side by side. rrl-*: NSD's response rate limiting is on by default
# (200 qps per /24) and would truncate/drop benchmark traffic from 127.0.0.1.
nsd_conf() {
    local name=$1 addr
    shift
    cat <<EOF
# NSD instance "$name" for the hermetic tree (generated by mktree.sh)
server:
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$OUT/zones"
    zonelistfile: "$OUT/nsd-$name.zonelist"
    pidfile: "$OUT/nsd-$name.pid"
    xfrdfile: "$OUT/nsd-$name.xfrd.state"
    xfrdir: "$OUT/nsd-$name.xfr"
    cookie-secret-file: "$OUT/nsd-$name.cookiesecrets"
    logfile: "$OUT/nsd-$name.log"
    verbosity: 0
    server-count: 1
    do-ip6: no
    port: 53
    identity: "$name"
    hide-version: yes
    zonefiles-write: 0
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
EOF
    for addr in "$@"; do printf '    ip-address: %s\n' "$addr"; done
    printf 'remote-control:\n    control-enable: no\n'
}
# nsd_zone ORIGIN: a zone: clause serving the signed file of ORIGIN.
nsd_zone() {
    local file=${1%.}
    printf 'zone:\n    name: "%s"\n    zonefile: "%s.signed"\n' "$1" "${file:-root}"
}

{ nsd_conf root "$ROOT_ADDR"; nsd_zone .; } >"$OUT/nsd-root.conf"
{
    nsd_conf tld "$TLD_ADDR1" "$TLD_ADDR2"
    for tld in "${TLDS[@]}"; do nsd_zone "$tld."; done
} >"$OUT/nsd-tld.conf"

leaf_tld "$ZONES"; last_zone=z$ZONES.$REPLY
if [[ -n ${RM_LEAF_BACKEND:-} ]]; then
    LEAF_LISTEN=("$RM_LEAF_BACKEND")
    backend_probe=${RM_LEAF_BACKEND/@//}
    leaf_probes="z1.com./$backend_probe $last_zone./$backend_probe"
else
    mapfile -t LEAF_LISTEN < <(cut -d' ' -f2 "$OUT/leaf-servers.txt")
    leaf_ns_addr 1 1; first_addr=$REPLY
    leaf_ns_addr "$ZONES" 2
    leaf_probes="z1.com./$first_addr $last_zone./$REPLY"
fi
{
    nsd_conf leaf "${LEAF_LISTEN[@]}"
    for origin in "${LEAF_ORIGINS[@]}"; do nsd_zone "$origin"; done
} >"$OUT/nsd-leaf.conf"

for name in root tld leaf; do
    nsd-checkconf "$OUT/nsd-$name.conf" || { echo "mktree.sh: bad nsd-$name.conf" >&2; exit 1; }
done

cat >"$OUT/nsd-instances.txt" <<EOF
root nsd-root.conf ./$ROOT_ADDR
tld nsd-tld.conf com./$TLD_ADDR1 org./$TLD_ADDR2
leaf nsd-leaf.conf $leaf_probes
EOF

cat >"$OUT/tree.env" <<EOF
# Hermetic tree generated by mktree.sh; source it for the facts below.
RM_TREE_NET=$NET
RM_TREE_ZONES=$ZONES
RM_TREE_NAMES_PER_ZONE=$NAMES
RM_TREE_ROOT_ADDR=$ROOT_ADDR
RM_TREE_TLD_ADDRS="$TLD_ADDR1 $TLD_ADDR2"
RM_TREE_LEAF_BACKEND="${RM_LEAF_BACKEND:-}"
EOF
