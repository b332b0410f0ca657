#!/bin/sh
# Installs the Debian packages listed in vendor/packages.txt that are missing.
# Idempotent: does nothing (and needs no network) when everything is present.
set -eu
here=$(dirname "$0")
missing=""
for p in $(grep -v '^#' "$here/packages.txt" | grep -v '^$'); do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "vendor/install.sh: installing:$missing"
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
# policy-rc.d keeps apt from starting nginx/redis as system services.
if [ -z "$SUDO" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; cleanup=1
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
[ "${cleanup:-0}" = 1 ] && rm -f /usr/sbin/policy-rc.d
exit 0
