#!/bin/sh
# Creates the certificates of a hyperrep TLS test bed with the openssl CLI.
#
#   scripts/make-certs.sh OUTDIR [DEVICE_NAME...]
#
# Writes into OUTDIR (created if missing; existing files are overwritten):
#   ca.crt, ca.key               the test CA that signs everything below
#   server.crt, server.key       CN=hyperrep-server, SAN DNS:localhost,
#                                IP:127.0.0.1, IP:::1, EKU serverAuth
#   NAME.crt, NAME.key           one client certificate per DEVICE_NAME
#                                (default edge-0): CN=NAME, EKU clientAuth
#   rogue-ca.crt, rogue-ca.key   a second, unrelated CA
#   rogue.crt, rogue.key         a client certificate from the rogue CA that
#                                claims the first device's name (for tests
#                                that an identity cannot be forged)
# Keys are EC P-256 (mode 0600); certificates are valid for 825 days.
# Every run makes a new CA, so certificates from earlier runs stop verifying.
set -eu

usage() {
    echo "usage: $0 OUTDIR [DEVICE_NAME...]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
out=$1
shift
[ $# -ge 1 ] || set -- edge-0

command -v openssl >/dev/null 2>&1 || {
    echo "$0: the openssl command is missing (apt-get install openssl)" >&2
    exit 1
}

# A device name becomes a file name and a subject, so keep it to characters
# that are safe in both (no '/', which would start a new subject field).
for name in "$@"; do
    case $name in
        "" | *[!A-Za-z0-9._-]* | .* )
            echo "$0: device name '$name' must be letters, digits, '.', '_' or '-' (not starting with '.')" >&2
            exit 2 ;;
        ca | server | rogue | rogue-ca )
            echo "$0: device name '$name' clashes with a file this script writes" >&2
            exit 2 ;;
    esac
done

mkdir -p "$out"
days=825
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hr-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# Keys are created under umask 077 so they are never readable by others,
# not even between creation and the chmod.
newkey() {
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null)
    chmod 600 "$1"
}

# serial: 16 random bytes, so certificates of different runs never collide.
serial() {
    echo "0x$(openssl rand -hex 16)"
}

# newca NAME CN: a self-signed CA.
newca() {
    newkey "$out/$1.key"
    openssl req -x509 -new -key "$out/$1.key" -subj "/CN=$2" -days $days -sha256 \
        -set_serial "$(serial)" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$out/$1.crt"
    chmod 644 "$out/$1.crt"
    echo "wrote $out/$1.crt $out/$1.key (CA, CN=$2)"
}

# newleaf FILE CN CA EXTENSIONS: a certificate signed by CA.
newleaf() {
    newkey "$out/$1.key"
    openssl req -new -key "$out/$1.key" -subj "/CN=$2" -out "$tmp/$1.csr"
    printf '%s\n' "[ext]" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "$4" > "$tmp/$1.ext"
    openssl x509 -req -in "$tmp/$1.csr" -CA "$out/$3.crt" -CAkey "$out/$3.key" \
        -set_serial "$(serial)" -days $days -sha256 \
        -extfile "$tmp/$1.ext" -extensions ext -out "$out/$1.crt" 2>/dev/null
    chmod 644 "$out/$1.crt"
    echo "wrote $out/$1.crt $out/$1.key (CN=$2, signed by $3)"
}

newca ca "hyperrep test CA"
newleaf server hyperrep-server ca \
    "extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
for name in "$@"; do
    newleaf "$name" "$name" ca "extendedKeyUsage=clientAuth"
done
newca rogue-ca "hyperrep rogue CA"
newleaf rogue "$1" rogue-ca "extendedKeyUsage=clientAuth"
