#!/bin/bash
# mkcerts.sh DIR: a throw-away test CA and EC P-256 leaf certificates for
# 127.0.0.1 / ::1 / localhost, with the openssl CLI only.
#
# Writes into DIR:
#   ca.crt ca.key                      the test CA (ca.key mode 0600)
#   kbs.crt kbs.key                    server leaf for the KBS stand-in
#   artifacts.crt artifacts.key        server leaf for the artifact server
#   sidecar.crt sidecar.key            server leaf for sealpod-sidecar
#   sidecar-chain.crt                  sidecar leaf followed by the CA
#   client.crt client.key              client leaf (clientAuth), for mTLS
#   other-ca.crt                       an unrelated CA (for "wrong CA" tests)
#   wrongname.crt wrongname.key        server leaf from the test CA whose
#                                      names do not include 127.0.0.1/localhost
# Every key is mode 0600. Certificates are valid for 30 days.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077

days=30
subj_prefix="/O=sealpod tests"

newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1" 2>/dev/null
	chmod 0600 "$1"
}

make_ca() { # name cn
	newkey "$1.key"
	openssl req -x509 -new -key "$1.key" -sha256 -days "$days" \
		-subj "$subj_prefix/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$1.crt" 2>/dev/null
}

make_leaf() { # name usage [subjectAltName]
	local ext san=${3:-DNS:localhost,IP:127.0.0.1,IP:::1}
	ext=$(mktemp)
	cat >"$ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=$2
subjectAltName=$san
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
	newkey "$1.key"
	openssl req -new -key "$1.key" -subj "$subj_prefix/CN=$1" \
		-out "$1.csr" 2>/dev/null
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key \
		-CAcreateserial -days "$days" -sha256 -extfile "$ext" \
		-out "$1.crt" 2>/dev/null
	rm -f "$1.csr" "$ext"
}

make_ca ca "sealpod test CA"
for name in kbs artifacts sidecar; do
	make_leaf "$name" serverAuth
done
make_leaf client clientAuth
make_leaf wrongname serverAuth DNS:not-this-host.invalid
cat sidecar.crt ca.crt >sidecar-chain.crt
make_ca other-ca "unrelated test CA"
rm -f other-ca.key ca.srl
chmod 0644 ./*.crt

for name in kbs artifacts sidecar client wrongname; do
	openssl verify -CAfile ca.crt "$name.crt" >/dev/null
done
