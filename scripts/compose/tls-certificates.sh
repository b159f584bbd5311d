#!/usr/bin/env bash
# Makes the certificates docker-compose.tls.yml mounts, once: a private CA and one server
# certificate for the servers' compose names (rabbitmq-1..3, postgres, mongo), in .warren/tls.
# Needs openssl. The CA's key stays in .warren/tls; keep it, or delete it once the servers'
# certificate is made (a new run then makes a new CA).
#
#   scripts/compose/tls-certificates.sh
#   docker compose -f docker-compose.yml -f docker-compose.tls.yml up --build
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=$root/.warren/tls
mkdir -p "$dir"
cd "$dir"
umask 077
if [ ! -s ca.pem ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=Warren compose CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem
fi
openssl req -new -newkey rsa:3072 -nodes -subj "/CN=warren-servers" -keyout server.key -out server.csr
printf '%s\n' \
  "subjectAltName=DNS:rabbitmq-1,DNS:rabbitmq-2,DNS:rabbitmq-3,DNS:postgres,DNS:mongo,DNS:localhost,IP:127.0.0.1" \
  "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
  "extendedKeyUsage=serverAuth" >server.ext
openssl x509 -req -days 825 -in server.csr -CA ca.pem -CAkey ca.key \
  -set_serial "0x$(openssl rand -hex 16)" -extfile server.ext -out server.pem
# mongod reads its certificate and key from one file.
cat server.pem server.key >server-and-key.pem
rm -f server.csr server.ext
# The CA certificate is public: the services read it.
chmod 644 ca.pem
echo "certificates in $dir"
