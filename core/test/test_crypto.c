/*
 * test_crypto.c - tp_crypto: known-answer digests/HMAC (FIPS 180-2 "abc", RFC 4231),
 * base64, key parsing (PEM, DER, JWK, malformed input) and RS/PS/ES verification
 * against keys and signatures made once with the openssl CLI (embedded below).
 */
#include "tp_crypto.h"
#include "tp_test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Signed message for every signature vector below. */
static const char MSG[] = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0dXJucGlrZSJ9";

static const char RSA_SPKI[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAniwRsaO9hR40ts5QctVC\n"
    "JtHF6ueh8IKM8XYYGFApYQF+V50iuZ/KlcKB/lWN92T9ueD89zb6DD3VghspzyC1\n"
    "Zs6KiDr2cy0Y8e7swolz5Epx/05XzbDChrDFHVLTjfe7FplczyuKLcekTSsM0JbE\n"
    "5sGTrH1jPvPz7VlKt//jOzZUN1Iz3JGJYz6h5xWBcLvaTsyviOB7Y9b/4E67TDUJ\n"
    "6ee5RDJzvP9Y3gmYuB0xBzFa3O+ZcE3t/lK6rsra/6VAsKSQdoZXxXjBeYoxEofA\n"
    "Kb85nJ/VUB47z5EJU9U36kcnc8onDjpmJJcPfaA3Rx6+5QHFL4PqW1BUxx1l6ex0\n"
    "SQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";
static const char RSA_PKCS1[] =
    "-----BEGIN RSA PUBLIC KEY-----\n"
    "MIIBCgKCAQEAniwRsaO9hR40ts5QctVCJtHF6ueh8IKM8XYYGFApYQF+V50iuZ/K\n"
    "lcKB/lWN92T9ueD89zb6DD3VghspzyC1Zs6KiDr2cy0Y8e7swolz5Epx/05XzbDC\n"
    "hrDFHVLTjfe7FplczyuKLcekTSsM0JbE5sGTrH1jPvPz7VlKt//jOzZUN1Iz3JGJ\n"
    "Yz6h5xWBcLvaTsyviOB7Y9b/4E67TDUJ6ee5RDJzvP9Y3gmYuB0xBzFa3O+ZcE3t\n"
    "/lK6rsra/6VAsKSQdoZXxXjBeYoxEofAKb85nJ/VUB47z5EJU9U36kcnc8onDjpm\n"
    "JJcPfaA3Rx6+5QHFL4PqW1BUxx1l6ex0SQIDAQAB\n"
    "-----END RSA PUBLIC KEY-----\n";
static const char RSA1537_SPKI[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIHfMA0GCSqGSIb3DQEBAQUAA4HNADCByQKBwQEpC8RNCVzlBBPxmLNQWpg2XCr0\n"
    "OoM16i2X79f1jfrsFe4Tx5SZAcg0rGDu6enCC28tyneiLsfbvREs9K6OIPK5uXAt\n"
    "6T+j0QXlKkMzvbfaMwnV38558soq01G50x9PjQtwJmBftfiEe3pRG/3raZmGikJO\n"
    "e3RnoB0G/0dpJPGWOKhClkcBqbWKewHV/IhMphzksl1fTBAnLLi3BfZf6ZRJwM/j\n"
    "kVNTS3mkB/EIR76YDBkS3I7tjne8ccj25a7ZfVsCAwEAAQ==\n"
    "-----END PUBLIC KEY-----\n";
static const char RSA_OTHER_SPKI[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmgM9dPCE4v46FSuR0wQi\n"
    "3yQoD7yHAYjjV+L/kaxLjou0jJFNkFbbXKi3Cp3VP/Ulf/N7QC1n9C5LdIVngXHl\n"
    "HFMzVuA1XiTiEPElRnHJaPxTvxpcwjBPn1hBrv+1n/HIyysnBvbBMxoerUS1bG/f\n"
    "Ibhe6TneJWyvqD3ATp9bTqX7175Y+CaDGNcKJlVunFoa3s5kG23WYg2F8V/mblg4\n"
    "Ox4UoHbHlbvCVWjKOM+fNCTxnYHm3uZ4L9ViYB7W17ZABUSw880RHvefdd0ncW7L\n"
    "5RIdl0zh7yTuNTI0EJ4ND3uZ8kewldOFbsTOin3AYI3vRx4LTTI0vGCVV/ZvIfuV\n"
    "DwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";
static const char SIG_RS256[] =
    "\x14\x8b\xf2\x47\x84\x38\xf7\x66\xdd\x0d\x3e\x9a\x19\x03\x39\x91\x8c\xd2\xfb\xec\x2a\x20\xca\x20"
    "\x9e\x29\x39\x3e\x8f\xe0\x29\xfc\xeb\x24\xe2\x8b\x4a\xad\x71\x57\x5e\x1a\xf5\x0c\x9b\x80\x0c\x6f"
    "\x26\x0e\xdd\xb4\x7b\xc6\xe6\x11\xbf\x9f\x57\x58\x1d\x4a\xcc\xb2\x69\x37\x2a\xd4\x1d\x81\xb5\x22"
    "\x52\xb4\x97\x17\x83\x33\x4e\x60\x3b\x2d\x59\xa1\xa1\xa2\xa0\xcb\xdd\xd8\x78\x07\xf0\xe8\xd7\xc6"
    "\x3e\x11\x52\x97\x1d\x57\x47\x43\x6a\x5a\xc2\x13\x9c\xfa\x93\xc1\x22\xce\xb3\x8c\xe0\x8c\xc4\x96"
    "\x45\xb6\x90\x73\x50\xb6\xb9\x7e\x9a\x56\x84\x3d\xfa\xf0\xec\xa8\xc6\x36\xb0\xa7\x98\x52\xf5\x1d"
    "\x0d\x08\x73\x75\x9c\x21\x86\xe4\x8e\x84\x7d\xac\x7e\xd0\xd2\x05\xba\xaf\xc7\x79\xda\xc4\xaf\xe7"
    "\x08\x2c\xb0\x69\xdf\xa9\x73\x4c\x34\x5a\x75\xf3\x83\x9b\xf4\x00\xb9\x26\x0e\xff\xf0\xd3\x3f\xda"
    "\x6d\xc8\xdc\xd3\xf7\x3f\x4e\x96\x06\x84\x7a\x50\x76\xd0\x20\x87\x5c\x1d\x9e\x12\x1b\xd4\xc1\xbd"
    "\x09\xb0\xfe\x80\xeb\x2d\x42\x83\x34\x41\x54\x4d\xcf\x36\xcf\x47\x3f\x44\x3e\xa2\xe4\xba\xca\x19"
    "\x6a\x09\x1c\x5a\x0b\x10\x89\xb9\x26\x56\x8e\x57\x00\x90\x61\x09";
static const char SIG_RS384[] =
    "\x80\x9e\x73\xac\x48\x6a\x0a\xb4\xd9\x49\x79\xc6\x23\x3e\xd1\x61\xba\xc9\x2a\x73\xd9\x2f\x66\xb5"
    "\x7d\x08\xcd\xca\x39\x68\xd1\xeb\xac\x19\x3a\x70\x3f\x7a\x78\x1c\x7f\x03\xf5\x65\x83\x27\x8c\xc3"
    "\xfb\xc8\x4c\x49\xcc\x1a\x44\x55\x13\x18\x8d\xb9\xd5\xff\x25\xa0\x33\xd6\x74\xe4\x58\x13\x65\xa4"
    "\x22\x22\x42\x85\xa8\xfa\x70\xe1\x3c\xed\x3c\x86\xaa\xe1\x30\x23\x09\xe9\x58\xbe\xb1\x5c\xc9\xe2"
    "\x23\x66\xad\x8f\xb6\xbb\x1a\x7f\x48\x68\x92\x01\xc1\xad\xa5\x99\x86\xbf\x2f\xb6\xae\x58\xf1\xf8"
    "\x80\xc8\x84\xb3\x4f\xb0\x51\x61\x76\x79\x71\x27\xbb\x6d\x12\x9b\x6c\x6c\xa8\x92\xb6\xc1\x88\x3d"
    "\xc3\x01\xb7\x9e\xad\x56\x0e\xa2\x32\x79\xb4\x79\x06\x62\x70\xb0\x47\xfb\x3a\x8a\x8f\x09\xc0\x3f"
    "\x7f\x2f\x2f\x1b\xca\x3e\xda\x0d\xd2\x36\x84\x71\xa0\x86\xf1\xfe\x96\x52\x67\xdc\x17\x15\x4b\xfd"
    "\xfb\x7a\x32\x4f\x39\x44\x33\xe0\x3a\xe3\x9b\x95\x80\x62\x10\x43\xe1\xfc\xf9\xdd\xd0\x02\x03\x17"
    "\x56\xea\xb3\x19\x5f\x01\xd0\x7a\x7c\xe8\xe5\xc9\xf5\xe7\x6f\x2b\x8f\x85\x6f\xef\x56\x4e\x9b\x66"
    "\xb1\x08\x40\x08\x13\xe0\x82\xf6\x1d\xbd\xad\x6b\xb0\x2e\x1c\xe5";
static const char SIG_RS512[] =
    "\x94\xb4\x62\x31\x8e\x59\xe7\x18\xde\x59\xf2\x51\x8d\x44\xaa\x2e\x4b\x0e\x00\x46\x7e\x85\xd1\xfd"
    "\x26\x91\xeb\x5c\x72\x90\x26\x6b\x90\x79\xd5\xda\x01\x31\x61\x34\x06\xcf\xb7\xea\x57\x7e\xf2\xec"
    "\xc6\x49\xb1\x0d\x5f\x58\x05\x23\x83\x29\x5f\x8c\x73\x66\x8b\xbc\x2e\x37\x59\x5f\x27\x5c\x75\x55"
    "\x1f\x45\x89\xcd\x76\x00\x78\x0d\x5b\x06\xa2\x56\x16\xe2\x0f\x29\xe5\x6c\x06\xb0\xb3\xd7\xe9\xb7"
    "\x26\x76\x75\x3c\x12\xaa\x71\xaf\x4c\x8d\xd3\xfb\x95\xd6\x42\xca\x59\x0e\xad\xca\xef\x8f\xc0\x68"
    "\x83\xc1\xd1\x38\x22\x90\x40\xbd\xa9\xc7\xc3\x02\xfe\x8e\xdc\xec\xa1\xca\xc5\x2b\x83\xc4\x25\x0c"
    "\x11\xe7\xff\xc6\x56\xc2\x76\x57\xad\xcd\x46\x9b\x4b\x3e\x31\x7c\x1d\x3b\x13\x39\x23\xbe\xe8\xd2"
    "\x6b\xb1\x16\xa8\x46\xb0\xca\x8a\x3e\x52\xed\x8c\xc5\x14\xd5\xf6\xfe\xa9\xad\x4b\x35\x34\xa5\xcf"
    "\x33\x67\x76\x14\x5f\xfe\x56\x98\xd5\x94\xab\x51\xc0\x74\x00\x70\x09\x43\x89\x4d\xac\x37\x46\x65"
    "\x0c\x22\xaa\x8d\x73\x63\x12\x47\x2a\xc1\x52\x8f\x09\xf4\x1d\x06\x78\x20\xcd\xe6\x70\x87\xda\xea"
    "\x80\xec\xe4\xe6\x7c\x82\xd2\x6d\xfc\xf8\xf3\xf4\x0e\x8f\x2f\x1d";
static const char SIG_PS256[] =
    "\x7c\x0e\x7e\x14\xf1\x21\xa6\xab\x14\x2c\x29\x22\xcd\x00\xaa\x62\xd7\x1d\x19\xe6\x05\xdf\x60\xaf"
    "\x6b\xf8\x12\xe2\x38\xb1\x74\x87\x94\xaf\x5d\xe8\x9e\x97\x7e\x38\x96\x5f\x63\x91\xe5\x0e\x17\xcb"
    "\x96\x81\x05\x94\xfb\xf9\xb8\x59\x60\x82\x0e\xda\x7c\x71\xae\x6c\x8e\x8c\xb3\x8a\x2d\xa5\xc1\x86"
    "\xef\x84\xc7\xad\xc1\x92\x47\x22\xc5\xca\x6f\x4f\x70\xfa\xbd\x91\xe8\xae\xad\xd1\x94\x3e\x69\xed"
    "\x07\xa3\xa1\xc2\x8b\x34\x50\x08\x52\xbb\xaa\xef\x13\x25\x91\x22\x57\x2d\xc1\x22\x54\xd0\xdf\x02"
    "\x25\x3e\x6a\xb5\x63\xce\x65\x63\xeb\x2c\xc8\x32\x02\xa6\x6b\xb2\x34\xff\x4b\x5b\xe3\x97\x03\x98"
    "\x93\xb8\xf4\x53\xcd\x9b\xfb\x46\x50\xd2\x0c\x7f\x72\xfa\x6f\xb8\x73\x6f\x9c\x2c\x04\xe8\x96\x94"
    "\xa2\xe6\xc2\x58\xb3\x94\xd9\xe1\x6a\x96\xf1\x82\xcd\x02\x6c\x2d\x5e\x7d\xa8\xf9\x20\xe5\x17\x03"
    "\x67\x0c\x78\x94\x67\xa6\x5a\x8b\xaf\x9f\x6a\x23\x53\x5b\x71\xbe\x28\xe3\xa3\xe0\xbc\x4f\xed\x3b"
    "\x6b\x33\xfb\x66\x02\x22\xe5\x10\x94\xf3\x98\x8e\x06\x60\x1d\xce\x25\x3b\x86\xb2\x0c\xee\x59\x28"
    "\x79\x5a\x98\xea\xab\x8d\xce\xdf\x70\xb7\x61\xed\x9e\x99\x20\xdd";
static const char SIG_PS512[] =
    "\x94\xf5\x02\xd5\xf1\x3f\x6c\x95\xfa\x14\xd2\xd5\x1a\x2b\xe8\x12\xef\x86\x12\xab\x50\xef\xdc\x97"
    "\xc8\xf0\xda\x44\x57\x09\xb4\xc5\x80\x01\x58\xb5\x87\x3e\x01\x8c\xff\x4e\x53\xc6\xda\xc2\xd1\x16"
    "\xac\x79\x13\x85\x18\x3f\x6b\x6b\x24\xc0\x85\x86\x29\xec\x93\x0e\xa1\xf9\x7a\x24\x90\x76\x38\xcd"
    "\x7c\x50\x80\xf5\xaf\x04\xf0\x89\x2c\x1d\xb0\xe9\x29\xa5\x51\x05\x84\xd9\x5d\xd3\xdb\xf3\x2d\x45"
    "\x16\xc5\x68\x81\xf2\xd8\xe4\x3c\x01\x06\x9e\x63\xae\x2f\x74\x49\x47\x7e\xd7\xc8\x92\xd0\x41\x50"
    "\xa3\xf6\x13\x80\xf4\x29\xcc\x72\x67\x9b\x83\x8d\x0f\x86\x87\x75\x7a\xb8\x57\xc8\xd6\x1f\xd2\xcb"
    "\xa4\x39\x32\x9d\xc4\xf3\xc9\xdb\x81\xd7\x52\xb7\xa4\x01\x99\x15\xf8\xe2\x93\x85\x4b\x54\xb8\x20"
    "\xf5\xcb\x78\xaf\xa1\x59\x91\x14\xe0\x21\xe0\x63\x86\x2d\x49\xe0\xe0\x0d\x5a\xe6\xd1\x98\x18\x70"
    "\x37\x63\x8f\x30\xb1\xf3\x50\xb8\x6b\xa5\xc9\x16\x6a\x71\x2e\xf5\x4d\xcb\xad\xf1\xa5\xcd\x4f\x10"
    "\xb7\xd9\xcd\x7d\x30\x73\x3c\xeb\x65\x1e\xb6\x0a\xb5\x64\xc0\xcd\x88\xbc\x49\x99\x43\x5e\x88\x10"
    "\xaa\x01\xb7\x79\x67\xc6\xb1\x42\xbc\x1f\xe4\x1e\x3c\x8d\x0e\xff";
static const char SIG_PS384_1537[] =
    "\x00\x60\xab\x67\x84\xcd\x2a\xb7\x2d\x90\x0e\xed\x10\x45\x4f\x54\x73\x84\x0a\x9d\xd5\xb9\xcc\xe4"
    "\x54\x69\xb6\x70\x83\x6f\x32\x26\x7b\x04\xc7\xc7\x4d\x03\x0d\xbc\x33\xf3\x43\x34\x23\xf4\xd4\x6b"
    "\x55\x2f\x7d\x3d\x2e\x87\xeb\xf4\x9d\x8e\x7c\x71\x8b\x6a\xca\x8b\x10\xde\xbd\x03\xdd\x8c\xae\x12"
    "\x64\xab\xda\xec\xf5\x66\x92\xf5\x4f\x2c\x1f\xf3\x68\x95\x56\x7a\x89\xc4\x94\xcd\x06\x65\x48\x10"
    "\x14\xe3\x48\x30\x4c\x70\x7b\xdc\x16\x23\xb0\xb5\x13\xf8\x27\x40\x51\x85\x72\xfb\x4e\xe7\x1a\x97"
    "\x79\x32\x67\x0c\x84\x04\x67\x0b\x12\x1b\x57\xa0\xc0\x9f\x4c\x95\x06\xd6\xd4\xc1\x6f\x64\xfa\x33"
    "\xd9\xa6\x02\x2c\x11\xe4\xad\x9d\xb5\x5e\xee\xff\xb7\x7e\x68\x9f\xc5\xd8\x7b\x2f\x41\xe8\x32\xef"
    "\x2e\xb6\x0f\xef\x85\x69\x09\x28\xf3\x1e\x51\x0d\xb3\x81\x4a\x9f\xeb\x8e\x7e\x33\x4f\x5c\x69\xd9"
    "\x5a";
static const char P256_SPKI[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEgqC3qFc7YU2Hvma1ocsaH92SCN9m\n"
    "u1xOKU6hxe1Osbgb7I+EQCbisZWSUBfbAI8f1q0+DNpEfh474o/eyFjHBw==\n"
    "-----END PUBLIC KEY-----\n";
static const char SIG_P256[] =
    "\x4d\xa4\x44\xf4\xd7\xef\xcc\x95\xfa\xca\xd6\xdb\xe9\x33\xc5\x14\xbf\xff\x72\x84\x8d\xdb\x24\xf9"
    "\xd7\x90\x33\x8c\xf9\x35\x4b\xe1\xc8\x55\x3f\xa7\x6e\x60\x30\x50\x6d\x68\x4d\x78\x5b\x1f\xcf\x5f"
    "\x86\x36\x0e\xda\x40\x49\x31\x9f\x07\x62\x7a\x94\xed\x27\xe5\xe4";
static const char P384_SPKI[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEM/1d9AOcvp0r8hOzzyBxLpUwJbq7aCwD\n"
    "QRDAn6rg+kWFO5bAkWobg0S4ftGl/0j/YULPKzHUOnvTqzWs/2ibtGS0hoUPGQcl\n"
    "cPFHoKVTB7BQDV16yHx71cV4b8buD4hk\n"
    "-----END PUBLIC KEY-----\n";
static const char SIG_P384[] =
    "\x35\x02\x18\x77\xe2\xe5\xf7\xfc\xc6\xc4\x2d\xc7\x36\xa8\xf8\xbe\xee\x90\x96\x9b\x55\x08\x75\xe2"
    "\x8d\x74\x21\xe0\x42\x43\x2a\x86\xe8\xfc\xbb\xac\x4f\x94\x94\x38\xe5\xc3\xff\xf0\x61\x24\x72\x6d"
    "\x5f\xd9\x9b\x79\xb8\xd7\x0c\xcc\x1a\x63\xc4\x46\x45\xc8\x5e\x0d\xe3\xaa\x4e\x73\xaa\x08\x6d\xb1"
    "\x5b\x97\xb1\xc7\x62\x41\xbd\xa2\x4a\x72\xf2\x83\x63\x0c\xd6\xab\xf7\x1a\x93\x54\x4b\x0d\xf6\x6d";
static const char P521_SPKI[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAKAef94sHEy1EtK1JEgcidEtiSHLF\n"
    "NJfAEWpJo45UTdWABCSmukW21SoI03oB/fVYCszgZBM1x2YqvaMn5HlibpgB4nIE\n"
    "vVNBX7yAKp/qlqMhFy+Zor34FPg8HT4F+WH+GWWNbYjWKOsI7A7hj45roYeNM3OB\n"
    "j+pgr9U8/VdpKKONFM8=\n"
    "-----END PUBLIC KEY-----\n";
static const char SIG_P521[] =
    "\x00\x88\x66\x1f\x02\x39\x69\x3b\x82\xa4\xf7\x2e\x65\x03\xe1\x68\xce\xc2\x47\xeb\x5e\xf8\xa7\x33"
    "\x99\xd6\x77\xf6\xb8\x21\xad\x6e\xcf\xf7\xf6\x33\x1e\x80\x71\xf0\x1d\x5d\x0b\x7f\x49\xff\x1f\x72"
    "\x16\x57\x6b\x65\xba\x27\xb5\x18\x9b\xab\x1d\x98\xfa\x75\x39\xba\x54\x74\x00\x94\xb0\x98\x41\x58"
    "\xd8\x17\x32\x10\x99\x6f\x01\xcc\x17\x53\xe2\x1f\xfe\x11\x44\x8c\xd4\x3c\x5f\x17\x3f\xb6\x1e\x37"
    "\xee\x8a\xdc\x2d\x9c\x3b\x3a\x96\x7a\xb6\xb4\x36\x6c\xc9\x89\x03\xb6\xc8\x71\xa1\x49\x99\x22\xe9"
    "\x0d\x13\xe6\x0d\xd2\x9a\x6a\xeb\xe1\x2f\x21\xb4";
static const char JWK_RSA_N[] = "niwRsaO9hR40ts5QctVCJtHF6ueh8IKM8XYYGFApYQF-V50iuZ_KlcKB_lWN92T9ueD89zb6DD3VghspzyC1Zs6KiDr2cy0Y8e7swolz5Epx_05XzbDChrDFHVLTjfe7FplczyuKLcekTSsM0JbE5sGTrH1jPvPz7VlKt__jOzZUN1Iz3JGJYz6h5xWBcLvaTsyviOB7Y9b_4E67TDUJ6ee5RDJzvP9Y3gmYuB0xBzFa3O-ZcE3t_lK6rsra_6VAsKSQdoZXxXjBeYoxEofAKb85nJ_VUB47z5EJU9U36kcnc8onDjpmJJcPfaA3Rx6-5QHFL4PqW1BUxx1l6ex0SQ";
static const char JWK_P256_X[] = "gqC3qFc7YU2Hvma1ocsaH92SCN9mu1xOKU6hxe1Osbg";
static const char JWK_P256_Y[] = "G-yPhEAm4rGVklAX2wCPH9atPgzaRH4eO-KP3shYxwc";
static const char JWK_P521_X[] = "ACgHn_eLBxMtRLStSRIHInRLYkhyxTSXwBFqSaOOVE3VgAQkprpFttUqCNN6Af31WArM4GQTNcdmKr2jJ-R5Ym6Y";
static const char JWK_P521_Y[] = "AeJyBL1TQV-8gCqf6pajIRcvmaK9-BT4PB0-Bflh_hlljW2I1ijrCOwO4Y-Oa6GHjTNzgY_qYK_VPP1XaSijjRTP";
static const char RSA_SPKI_DER[] =
    "\x30\x82\x01\x22\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00\x03\x82\x01\x0f\x00"
    "\x30\x82\x01\x0a\x02\x82\x01\x01\x00\x9e\x2c\x11\xb1\xa3\xbd\x85\x1e\x34\xb6\xce\x50\x72\xd5\x42"
    "\x26\xd1\xc5\xea\xe7\xa1\xf0\x82\x8c\xf1\x76\x18\x18\x50\x29\x61\x01\x7e\x57\x9d\x22\xb9\x9f\xca"
    "\x95\xc2\x81\xfe\x55\x8d\xf7\x64\xfd\xb9\xe0\xfc\xf7\x36\xfa\x0c\x3d\xd5\x82\x1b\x29\xcf\x20\xb5"
    "\x66\xce\x8a\x88\x3a\xf6\x73\x2d\x18\xf1\xee\xec\xc2\x89\x73\xe4\x4a\x71\xff\x4e\x57\xcd\xb0\xc2"
    "\x86\xb0\xc5\x1d\x52\xd3\x8d\xf7\xbb\x16\x99\x5c\xcf\x2b\x8a\x2d\xc7\xa4\x4d\x2b\x0c\xd0\x96\xc4"
    "\xe6\xc1\x93\xac\x7d\x63\x3e\xf3\xf3\xed\x59\x4a\xb7\xff\xe3\x3b\x36\x54\x37\x52\x33\xdc\x91\x89"
    "\x63\x3e\xa1\xe7\x15\x81\x70\xbb\xda\x4e\xcc\xaf\x88\xe0\x7b\x63\xd6\xff\xe0\x4e\xbb\x4c\x35\x09"
    "\xe9\xe7\xb9\x44\x32\x73\xbc\xff\x58\xde\x09\x98\xb8\x1d\x31\x07\x31\x5a\xdc\xef\x99\x70\x4d\xed"
    "\xfe\x52\xba\xae\xca\xda\xff\xa5\x40\xb0\xa4\x90\x76\x86\x57\xc5\x78\xc1\x79\x8a\x31\x12\x87\xc0"
    "\x29\xbf\x39\x9c\x9f\xd5\x50\x1e\x3b\xcf\x91\x09\x53\xd5\x37\xea\x47\x27\x73\xca\x27\x0e\x3a\x66"
    "\x24\x97\x0f\x7d\xa0\x37\x47\x1e\xbe\xe5\x01\xc5\x2f\x83\xea\x5b\x50\x54\xc7\x1d\x65\xe9\xec\x74"
    "\x49\x02\x03\x01\x00\x01";
#define RSA_SPKI_DER_LEN 294

#define MSGLEN (sizeof(MSG) - 1)
#define SIGLEN(s) (sizeof(s) - 1)

static char err[256];

static void tohex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static int digest_is(int alg, const char *msg, const char *hex)
{
    unsigned char out[TP_CRYPTO_MAX_DIGEST];
    char h[2 * TP_CRYPTO_MAX_DIGEST + 1];
    size_t n = sizeof(out);

    if (tp_ffi_crypto_digest(alg, msg, strlen(msg), out, &n) != 0)
        return 0;
    tohex(out, n, h);
    return strcmp(h, hex) == 0;
}

static int hmac_is(int alg, const char *key, size_t klen, const char *msg, const char *hex)
{
    unsigned char out[TP_CRYPTO_MAX_DIGEST];
    char h[2 * TP_CRYPTO_MAX_DIGEST + 1];
    size_t n = sizeof(out);

    if (tp_ffi_crypto_hmac(alg, key, klen, msg, strlen(msg), out, &n) != 0)
        return 0;
    tohex(out, n, h);
    return strcmp(h, hex) == 0;
}

static tp_crypto_key_t *pem(const char *s)
{
    return tp_ffi_crypto_key_from_pem(s, strlen(s), err, sizeof(err));
}

static int verify(const tp_crypto_key_t *k, int alg, const char *sig, size_t slen)
{
    return tp_ffi_crypto_verify(k, alg, MSG, MSGLEN, sig, slen);
}

static void test_digest_known_answers(void)
{
    unsigned char out[TP_CRYPTO_MAX_DIGEST];
    size_t n = 31;

    TP_CHECK(digest_is(256, "abc",
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    TP_CHECK(digest_is(384, "abc",
                       "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                       "8086072ba1e7cc2358baeca134c825a7"));
    TP_CHECK(digest_is(512, "abc",
                       "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                       "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"));
    TP_CHECK(digest_is(256, "",
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    TP_CHECK(tp_ffi_crypto_digest(1, "abc", 3, out, &n) == -EINVAL);
    TP_CHECK(tp_ffi_crypto_digest(256, "abc", 3, out, &n) == -ENOSPC);
}

static void test_hmac_rfc4231(void)
{
    char key1[20], key6[131];

    memset(key1, 0x0b, sizeof(key1));
    memset(key6, 0xaa, sizeof(key6));
    /* test case 1 */
    TP_CHECK(hmac_is(256, key1, sizeof(key1), "Hi There",
                     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
    /* test case 2 */
    TP_CHECK(hmac_is(256, "Jefe", 4, "what do ya want for nothing?",
                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
    TP_CHECK(hmac_is(384, "Jefe", 4, "what do ya want for nothing?",
                     "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                     "8e2240ca5e69e2c78b3239ecfab21649"));
    TP_CHECK(hmac_is(512, "Jefe", 4, "what do ya want for nothing?",
                     "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                     "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"));
    /* test case 6: key longer than the block size is hashed first */
    TP_CHECK(hmac_is(256, key6, sizeof(key6),
                     "Test Using Larger Than Block-Size Key - Hash Key First",
                     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
}

static void test_ct_equal(void)
{
    TP_CHECK(tp_ffi_crypto_ct_equal("abc", 3, "abc", 3) == 1);
    TP_CHECK(tp_ffi_crypto_ct_equal("abc", 3, "abd", 3) == 0);
    TP_CHECK(tp_ffi_crypto_ct_equal("abc", 3, "ab", 2) == 0);
    TP_CHECK(tp_ffi_crypto_ct_equal("", 0, "", 0) == 1);
}

static int b64_dec(int mode, const char *in, char *out, size_t *n)
{
    *n = 64;
    return tp_ffi_crypto_b64_decode(mode, in, strlen(in), (unsigned char *)out, n);
}

static void test_base64(void)
{
    unsigned char raw[40], back[64];
    char enc[64];
    size_t n, m;
    int ok = 1;

    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (unsigned char)(0xf0 + i * 37);
    /* round trip every length in both alphabets */
    for (size_t len = 0; len <= sizeof(raw); len++) {
        for (int url = 0; url <= 1; url++) {
            n = sizeof(enc);
            m = sizeof(back);
            if (tp_ffi_crypto_b64_encode(url, raw, len, enc, &n) != 0 ||
                tp_ffi_crypto_b64_decode(url ? TP_CRYPTO_B64_URL : TP_CRYPTO_B64_STD, enc, n,
                                         back, &m) != 0 ||
                m != len || memcmp(raw, back, len) != 0)
                ok = 0;
        }
    }
    TP_CHECK(ok);
    n = sizeof(enc);
    TP_CHECK(tp_ffi_crypto_b64_encode(1, (const unsigned char *)"\xfb\xff", 2, enc, &n) == 0);
    TP_CHECK(n == 3 && memcmp(enc, "-_8", 3) == 0);
    n = sizeof(enc);
    TP_CHECK(tp_ffi_crypto_b64_encode(0, (const unsigned char *)"\xfb\xff", 2, enc, &n) == 0);
    TP_CHECK(n == 4 && memcmp(enc, "+/8=", 4) == 0);
    n = 3;
    TP_CHECK(tp_ffi_crypto_b64_encode(0, (const unsigned char *)"ab", 2, enc, &n) == -ENOSPC);

    TP_CHECK(b64_dec(TP_CRYPTO_B64_URL, "aGk", enc, &n) == 0 && n == 2 && !memcmp(enc, "hi", 2));
    TP_CHECK(b64_dec(TP_CRYPTO_B64_URL, "aGk=", enc, &n) == -EINVAL);  /* JWS: no padding */
    TP_CHECK(b64_dec(TP_CRYPTO_B64_URL, "+/8", enc, &n) == -EINVAL);   /* wrong alphabet */
    TP_CHECK(b64_dec(TP_CRYPTO_B64_URL, "aGl", enc, &n) == -EINVAL);   /* non-zero pad bits */
    TP_CHECK(b64_dec(TP_CRYPTO_B64_URL, "aGk.", enc, &n) == -EINVAL);
    TP_CHECK(b64_dec(TP_CRYPTO_B64_URL, "aGkaa", enc, &n) == -EINVAL); /* length 1 mod 4 */
    TP_CHECK(b64_dec(TP_CRYPTO_B64_STD, "aGk=", enc, &n) == 0 && n == 2);
    TP_CHECK(b64_dec(TP_CRYPTO_B64_STD, "aGk==", enc, &n) == -EINVAL);
    TP_CHECK(b64_dec(TP_CRYPTO_B64_STD, "-_8", enc, &n) == -EINVAL);
    TP_CHECK(b64_dec(TP_CRYPTO_B64_LENIENT, "-/8=", enc, &n) == 0 && n == 2 &&
             !memcmp(enc, "\xfb\xff", 2));
    n = 1;
    TP_CHECK(tp_ffi_crypto_b64_decode(TP_CRYPTO_B64_URL, "aGk", 3, back, &n) == -ENOSPC);
}

static void test_key_pem(void)
{
    tp_crypto_key_t *k;
    static const char *bad[] = {
        "",
        "not pem at all",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKC\n"
        "-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
    };

    TP_CHECK((k = pem(RSA_SPKI)) != NULL);
    TP_CHECK(k && tp_ffi_crypto_key_type(k) == TP_CRYPTO_KEY_RSA);
    TP_CHECK(k && tp_ffi_crypto_key_bits(k) == 2048);
    tp_ffi_crypto_key_free(k);
    TP_CHECK((k = pem(RSA_PKCS1)) != NULL && tp_ffi_crypto_key_bits(k) == 2048);
    tp_ffi_crypto_key_free(k);
    TP_CHECK((k = pem(RSA1537_SPKI)) != NULL && tp_ffi_crypto_key_bits(k) == 1537);
    tp_ffi_crypto_key_free(k);
    TP_CHECK((k = pem(P256_SPKI)) != NULL && tp_ffi_crypto_key_type(k) == TP_CRYPTO_KEY_EC);
    TP_CHECK(k && tp_ffi_crypto_key_bits(k) == 256);
    tp_ffi_crypto_key_free(k);
    TP_CHECK((k = pem(P384_SPKI)) != NULL && tp_ffi_crypto_key_bits(k) == 384);
    tp_ffi_crypto_key_free(k);
    TP_CHECK((k = pem(P521_SPKI)) != NULL && tp_ffi_crypto_key_bits(k) == 521);
    tp_ffi_crypto_key_free(k);
    /* no trailing newline after END */
    TP_CHECK((k = tp_ffi_crypto_key_from_pem(P256_SPKI, strlen(P256_SPKI) - 1, err,
                                             sizeof(err))) != NULL);
    tp_ffi_crypto_key_free(k);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        TP_CHECK(pem(bad[i]) == NULL && err[0] != 0);
    }
    /* every truncation of a valid PEM fails cleanly or still finds the whole key */
    for (size_t len = 0; len + 26 < strlen(RSA_SPKI); len++)
        TP_CHECK(tp_ffi_crypto_key_from_pem(RSA_SPKI, len, err, sizeof(err)) == NULL);
}

static void test_key_der(void)
{
    const unsigned char *der = (const unsigned char *)RSA_SPKI_DER;
    unsigned char mut[RSA_SPKI_DER_LEN];
    tp_crypto_key_t *k;
    int all_null = 1;

    TP_CHECK((k = tp_ffi_crypto_key_from_der(der, RSA_SPKI_DER_LEN, err, sizeof(err))) != NULL);
    TP_CHECK(k && tp_ffi_crypto_key_bits(k) == 2048);
    TP_CHECK(k && verify(k, TP_CRYPTO_RS256, SIG_RS256, SIGLEN(SIG_RS256)) == 1);
    tp_ffi_crypto_key_free(k);
    for (size_t len = 0; len < RSA_SPKI_DER_LEN; len++) {
        k = tp_ffi_crypto_key_from_der(der, len, err, sizeof(err));
        all_null &= k == NULL;
        tp_ffi_crypto_key_free(k);
    }
    TP_CHECK(all_null);
    /* a length byte pointing past the end, and an unknown algorithm OID */
    memcpy(mut, der, sizeof(mut));
    mut[3] = 0x23;
    TP_CHECK(tp_ffi_crypto_key_from_der(mut, sizeof(mut), err, sizeof(err)) == NULL);
    memcpy(mut, der, sizeof(mut));
    mut[16] = 0x02;
    TP_CHECK(tp_ffi_crypto_key_from_der(mut, sizeof(mut), err, sizeof(err)) == NULL);
    TP_CHECK(strstr(err, "unsupported") != NULL);
}

static void test_key_jwk(void)
{
    tp_crypto_key_t *k;
    char y[sizeof(JWK_P256_Y)];

    k = tp_ffi_crypto_key_from_jwk(TP_CRYPTO_KEY_RSA, 0, JWK_RSA_N, strlen(JWK_RSA_N), "AQAB", 4,
                                   err, sizeof(err));
    TP_CHECK(k != NULL && tp_ffi_crypto_key_bits(k) == 2048);
    TP_CHECK(k && verify(k, TP_CRYPTO_RS256, SIG_RS256, SIGLEN(SIG_RS256)) == 1);
    tp_ffi_crypto_key_free(k);
    k = tp_ffi_crypto_key_from_jwk(TP_CRYPTO_KEY_EC, 256, JWK_P256_X, strlen(JWK_P256_X),
                                   JWK_P256_Y, strlen(JWK_P256_Y), err, sizeof(err));
    TP_CHECK(k && verify(k, TP_CRYPTO_ES256, SIG_P256, SIGLEN(SIG_P256)) == 1);
    tp_ffi_crypto_key_free(k);
    k = tp_ffi_crypto_key_from_jwk(TP_CRYPTO_KEY_EC, 521, JWK_P521_X, strlen(JWK_P521_X),
                                   JWK_P521_Y, strlen(JWK_P521_Y), err, sizeof(err));
    TP_CHECK(k && verify(k, TP_CRYPTO_ES512, SIG_P521, SIGLEN(SIG_P521)) == 1);
    tp_ffi_crypto_key_free(k);
    /* a point off the curve, a wrong curve, an even exponent, bad base64 */
    memcpy(y, JWK_P256_Y, sizeof(y));
    y[5] = y[5] == 'A' ? 'B' : 'A';
    TP_CHECK(tp_ffi_crypto_key_from_jwk(TP_CRYPTO_KEY_EC, 256, JWK_P256_X, strlen(JWK_P256_X), y,
                                        strlen(y), err, sizeof(err)) == NULL);
    TP_CHECK(strstr(err, "curve") != NULL);
    TP_CHECK(tp_ffi_crypto_key_from_jwk(TP_CRYPTO_KEY_EC, 384, JWK_P256_X, strlen(JWK_P256_X),
                                        JWK_P256_Y, strlen(JWK_P256_Y), err, sizeof(err)) == NULL);
    TP_CHECK(tp_ffi_crypto_key_from_jwk(TP_CRYPTO_KEY_RSA, 0, JWK_RSA_N, strlen(JWK_RSA_N), "AQAA",
                                        4, err, sizeof(err)) == NULL);
    TP_CHECK(tp_ffi_crypto_key_from_jwk(TP_CRYPTO_KEY_RSA, 0, "a+b", 3, "AQAB", 4, err,
                                        sizeof(err)) == NULL);
    TP_CHECK(tp_ffi_crypto_key_from_jwk(3, 0, "AQAB", 4, "AQAB", 4, err, sizeof(err)) == NULL);
}

static void test_verify_rsa_pkcs1(void)
{
    tp_crypto_key_t *k = pem(RSA_SPKI), *other = pem(RSA_OTHER_SPKI), *ec = pem(P256_SPKI);
    char sig[sizeof(SIG_RS256)];

    TP_CHECK(verify(k, TP_CRYPTO_RS256, SIG_RS256, SIGLEN(SIG_RS256)) == 1);
    TP_CHECK(verify(k, TP_CRYPTO_RS384, SIG_RS384, SIGLEN(SIG_RS384)) == 1);
    TP_CHECK(verify(k, TP_CRYPTO_RS512, SIG_RS512, SIGLEN(SIG_RS512)) == 1);
    /* wrong hash for the signature, tampered message, wrong key, truncated, flipped */
    TP_CHECK(verify(k, TP_CRYPTO_RS384, SIG_RS256, SIGLEN(SIG_RS256)) == 0);
    TP_CHECK(tp_ffi_crypto_verify(k, TP_CRYPTO_RS256, MSG, MSGLEN - 1, SIG_RS256,
                                  SIGLEN(SIG_RS256)) == 0);
    TP_CHECK(verify(other, TP_CRYPTO_RS256, SIG_RS256, SIGLEN(SIG_RS256)) == 0);
    TP_CHECK(verify(k, TP_CRYPTO_RS256, SIG_RS256, SIGLEN(SIG_RS256) - 1) == 0);
    TP_CHECK(verify(k, TP_CRYPTO_RS256, SIG_RS256, 0) == 0);
    memcpy(sig, SIG_RS256, sizeof(sig));
    sig[100] ^= 1;
    TP_CHECK(verify(k, TP_CRYPTO_RS256, sig, SIGLEN(SIG_RS256)) == 0);
    /* algorithm and key type must fit */
    TP_CHECK(verify(ec, TP_CRYPTO_RS256, SIG_RS256, SIGLEN(SIG_RS256)) == -EINVAL);
    TP_CHECK(verify(k, TP_CRYPTO_ES256, SIG_P256, SIGLEN(SIG_P256)) == -EINVAL);
    TP_CHECK(verify(k, 0, SIG_RS256, SIGLEN(SIG_RS256)) == -EINVAL);
    TP_CHECK(verify(k, 42, SIG_RS256, SIGLEN(SIG_RS256)) == -EINVAL);
    tp_ffi_crypto_key_free(k);
    tp_ffi_crypto_key_free(other);
    tp_ffi_crypto_key_free(ec);
}

static void test_verify_rsa_pss(void)
{
    tp_crypto_key_t *k = pem(RSA_SPKI), *k1537 = pem(RSA1537_SPKI), *other = pem(RSA_OTHER_SPKI);
    char sig[sizeof(SIG_PS256)];

    TP_CHECK(verify(k, TP_CRYPTO_PS256, SIG_PS256, SIGLEN(SIG_PS256)) == 1);
    TP_CHECK(verify(k, TP_CRYPTO_PS512, SIG_PS512, SIGLEN(SIG_PS512)) == 1);
    /* modBits - 1 = 1536 is a multiple of 8: EM is one octet shorter than the modulus */
    TP_CHECK(verify(k1537, TP_CRYPTO_PS384, SIG_PS384_1537, SIGLEN(SIG_PS384_1537)) == 1);
    TP_CHECK(verify(k, TP_CRYPTO_PS256, SIG_RS256, SIGLEN(SIG_RS256)) == 0);
    TP_CHECK(verify(k, TP_CRYPTO_RS256, SIG_PS256, SIGLEN(SIG_PS256)) == 0);
    TP_CHECK(verify(k, TP_CRYPTO_PS512, SIG_PS256, SIGLEN(SIG_PS256)) == 0);
    TP_CHECK(verify(other, TP_CRYPTO_PS256, SIG_PS256, SIGLEN(SIG_PS256)) == 0);
    TP_CHECK(tp_ffi_crypto_verify(k, TP_CRYPTO_PS256, "x", 1, SIG_PS256, SIGLEN(SIG_PS256)) == 0);
    TP_CHECK(verify(k, TP_CRYPTO_PS256, SIG_PS256, SIGLEN(SIG_PS256) - 1) == 0);
    memcpy(sig, SIG_PS256, sizeof(sig));
    sig[0] ^= 0x80;
    TP_CHECK(verify(k, TP_CRYPTO_PS256, sig, SIGLEN(SIG_PS256)) == 0);
    /* all-0xff is larger than the modulus */
    memset(sig, 0xff, sizeof(sig));
    TP_CHECK(verify(k, TP_CRYPTO_PS256, sig, SIGLEN(SIG_PS256)) == 0);
    tp_ffi_crypto_key_free(k);
    tp_ffi_crypto_key_free(k1537);
    tp_ffi_crypto_key_free(other);
}

static void test_verify_ecdsa(void)
{
    tp_crypto_key_t *p256 = pem(P256_SPKI), *p384 = pem(P384_SPKI), *p521 = pem(P521_SPKI);
    char sig[sizeof(SIG_P256)];

    TP_CHECK(verify(p256, TP_CRYPTO_ES256, SIG_P256, SIGLEN(SIG_P256)) == 1);
    TP_CHECK(verify(p384, TP_CRYPTO_ES384, SIG_P384, SIGLEN(SIG_P384)) == 1);
    TP_CHECK(verify(p521, TP_CRYPTO_ES512, SIG_P521, SIGLEN(SIG_P521)) == 1);
    TP_CHECK(tp_ffi_crypto_verify(p256, TP_CRYPTO_ES256, MSG, MSGLEN - 1, SIG_P256,
                                  SIGLEN(SIG_P256)) == 0);
    TP_CHECK(verify(p256, TP_CRYPTO_ES256, SIG_P256, SIGLEN(SIG_P256) - 1) == 0);
    TP_CHECK(verify(p256, TP_CRYPTO_ES256, SIG_P256, 0) == 0);
    memcpy(sig, SIG_P256, sizeof(sig));
    sig[40] ^= 4;
    TP_CHECK(verify(p256, TP_CRYPTO_ES256, sig, SIGLEN(SIG_P256)) == 0);
    memset(sig, 0, sizeof(sig));
    TP_CHECK(verify(p256, TP_CRYPTO_ES256, sig, SIGLEN(SIG_P256)) == 0);
    /* curve must match the algorithm */
    TP_CHECK(verify(p384, TP_CRYPTO_ES256, SIG_P256, SIGLEN(SIG_P256)) == -EINVAL);
    TP_CHECK(verify(p256, TP_CRYPTO_ES384, SIG_P384, SIGLEN(SIG_P384)) == -EINVAL);
    TP_CHECK(verify(p256, TP_CRYPTO_RS256, SIG_RS256, SIGLEN(SIG_RS256)) == -EINVAL);
    tp_ffi_crypto_key_free(p256);
    tp_ffi_crypto_key_free(p384);
    tp_ffi_crypto_key_free(p521);
}

int main(void)
{
    TP_RUN(test_digest_known_answers);
    TP_RUN(test_hmac_rfc4231);
    TP_RUN(test_ct_equal);
    TP_RUN(test_base64);
    TP_RUN(test_key_pem);
    TP_RUN(test_key_der);
    TP_RUN(test_key_jwk);
    TP_RUN(test_verify_rsa_pkcs1);
    TP_RUN(test_verify_rsa_pss);
    TP_RUN(test_verify_ecdsa);
    return TP_TEST_REPORT();
}
