#!/usr/bin/env bash
# Makes the TLS material ablate-server needs off loopback (issue 10), with openssl:
#   ca.crt / ca.key          a private CA (keep ca.key offline)
#   server.crt / server.key  the server's certificate for the given host names / IPs
#   worker.crt / worker.key  a client certificate for workers (mTLS, optional:
#                            ablate-server --tls-worker-ca ca.crt)
# Usage: deploy/make-certs.sh OUT_DIR HOST [HOST...]   e.g. deploy/make-certs.sh certs ablate.example.org 10.0.0.5
# Then: ablate-server --tls-cert OUT_DIR/server.crt --tls-key OUT_DIR/server.key ...
#       ablate --tls-ca OUT_DIR/ca.crt ...;  ablate-worker --tls-ca OUT_DIR/ca.crt ...
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 OUT_DIR HOST [HOST...]" >&2
  exit 2
fi
out=$1
shift
mkdir -p "$out"
umask 077
san=""
for host in "$@"; do
  if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then san+="IP:$host,"; else san+="DNS:$host,"; fi
done
san=${san%,}
days=825
openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=ablate CA" \
  -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
sign() {  # sign NAME SUBJECT EXTENSIONS
  openssl req -newkey rsa:3072 -nodes -subj "$2" -keyout "$out/$1.key" \
    -out "$out/$1.csr" 2>/dev/null
  openssl x509 -req -in "$out/$1.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -CAcreateserial -days "$days" -extfile <(printf '%s\n' "$3") -out "$out/$1.crt" 2>/dev/null
  rm -f "$out/$1.csr"
}
sign server "/CN=$1" "subjectAltName=$san
extendedKeyUsage=serverAuth"
sign worker "/CN=ablate-worker" "extendedKeyUsage=clientAuth"
chmod 0644 "$out/ca.crt" "$out/server.crt" "$out/worker.crt"
echo "make-certs: wrote $out/{ca,server,worker}.{crt,key} for $san"
