/*
 * test_tls.c - tp_tls: PEM decoding of chains and RSA/EC keys, key/certificate
 * mismatch refused, SNI selection (exact, *.suffix, prefix.*, default), store
 * references, and real TLS 1.2 handshakes over a socketpair against a BearSSL
 * client that only accepts the public key of the certificate SNI should pick.
 * The certificates were made once with the openssl CLI (embedded below).
 */
#include "tp_tls.h"
#include "tp_test.h"

#include <bearssl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* a.test: RSA 2048, self-signed */
static const char A_CRT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIDFjCCAf6gAwIBAgIUNPBCuhvs87hJQgDu8BeT9TL+g34wDQYJKoZIhvcNAQEL\n"
    "BQAwETEPMA0GA1UEAwwGYS50ZXN0MB4XDTI2MTEyNjA1MjYxNVoXDTM2MTEyMzA1\n"
    "MjYxNVowETEPMA0GA1UEAwwGYS50ZXN0MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n"
    "MIIBCgKCAQEAwgCN3zCwKSesACDtktPqhrnAWXiG1VijOuwu2nOCklIarsomP8Mq\n"
    "eUaaR1dY79V6jtCThwb0KbtNGr9VCw/uHMkzIdDggVAQFVe490cEYEvT1aC87CQj\n"
    "CZBZa6FdmB8+EoXaggtSmJ9rPmQ1E4OSt3NOuOlgPBBPUx3Ga+wsMhAfsS+W++uK\n"
    "oaCMIoXek7Wi56FSMLXo/0l5rFpI9+Z8CX6ok1zh62kyik/cG8aAYOsF3F/+HTK9\n"
    "eVhWllqR6rEolzjlm6emJa4mJ0mdmVE874ilB891WM9XS/x5lc6D7H+P/H7+bMt5\n"
    "MPmVb8AbE/NnF1E5IPD4v7x4DN7je4gUmQIDAQABo2YwZDAdBgNVHQ4EFgQUiMNy\n"
    "KXXcdmZQmMZJ0YkKrO5kwNQwHwYDVR0jBBgwFoAUiMNyKXXcdmZQmMZJ0YkKrO5k\n"
    "wNQwDwYDVR0TAQH/BAUwAwEB/zARBgNVHREECjAIggZhLnRlc3QwDQYJKoZIhvcN\n"
    "AQELBQADggEBAA23P6F0X/n9ZK7DOVCEGVDs0fVdGraMix4Yz4zH6TJHnX8LT+Bq\n"
    "IYcHAGi1WhYPGLbcPOH/ZtEOg0erQxY97oP1Cn0BFI2BswBZOMyLluoKF0Fsq8Yv\n"
    "Q2novJvjRUYJW1kC6gDgLsil0PiU5Rs9+O1wzr0KrWae5Ntwx4zxTGfnXy6pIYr5\n"
    "m+aV9SZL0ekXJ9OVRplpzg3xXEUVhPg7k59V6nO5BVDm66/4ED+sJZyn7JH78zKs\n"
    "NEDpWQwQpwzf7Eac6QLGCqCLWgykMLpVvEDUTdDwQU8nuQagSliw+vuIAmkKYLSt\n"
    "StqpGfdcXIqYBVfG0OJh0WntJ4T9ip7zEnM=\n"
    "-----END CERTIFICATE-----\n";
static const char A_KEY[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDCAI3fMLApJ6wA\n"
    "IO2S0+qGucBZeIbVWKM67C7ac4KSUhquyiY/wyp5RppHV1jv1XqO0JOHBvQpu00a\n"
    "v1ULD+4cyTMh0OCBUBAVV7j3RwRgS9PVoLzsJCMJkFlroV2YHz4ShdqCC1KYn2s+\n"
    "ZDUTg5K3c0646WA8EE9THcZr7CwyEB+xL5b764qhoIwihd6TtaLnoVIwtej/SXms\n"
    "Wkj35nwJfqiTXOHraTKKT9wbxoBg6wXcX/4dMr15WFaWWpHqsSiXOOWbp6YlriYn\n"
    "SZ2ZUTzviKUHz3VYz1dL/HmVzoPsf4/8fv5sy3kw+ZVvwBsT82cXUTkg8Pi/vHgM\n"
    "3uN7iBSZAgMBAAECggEABIjWcsA6Fd7XWTIWgNHoOkREN93RKlJwj54uoteEAUnf\n"
    "AB/ke1AOAZistCcurShsaBh9okXU1iw1Ff92jD7P6NIBGnS95/fdmwoaXi6a7mnx\n"
    "+8fOh/x46dklu0DMexOb3qX3S1vaueDcClt1ls0CqbwNu9UPSp1yT+CIdJmoF3bD\n"
    "hBVfckMXmQLZ/RzfJXd/7qcpt4Kg3I1BsBGCx7TGZZfWGVjgdABWsK4haKfuOKsb\n"
    "VC/1PNk/zgAk7V9JBUCyT4PMNGdk9GSonhswUHYHhkHM32sOu3eq1vyp223f2qR/\n"
    "16K6La6T2fsa8vhfrRMjgJYjdFA1Ahg+fdstwIR+0wKBgQD8t0FAQuC4oPZc6X4V\n"
    "hRT46/15gQGfVJFFkG2OYAWnElYz0Nz13FpeqeVr2ZxZ2GCYTncV4MVVFuCb3eEf\n"
    "mc+hjvZIkVBL18+e8OUFwL+h7RfklAS6+Gzr8W1XJcFMtjxigaioDRsihqgHjoVs\n"
    "lLROJrRN4kUv807E7IoZ0jPe3wKBgQDEhffjMUdXWNtfnCfppQn+jEtZrI4J6IjB\n"
    "1AepF8ymHD9gCLjU/SCYC2VFUQJsn6jthOShWpEeMoNF0UGXNxuz1z+DTE8o30XH\n"
    "V6BhM1dPly2+KODKY1NpJ8gtJU9ucTl8ulTLdN7K1PD/l6R41RDR9bbmNh71uzNq\n"
    "hhQtgr0ThwKBgBXAjExEtWUO7cW3j1O43cJDRdEUipg1Rj/Pm656k2H7ERJqsuoy\n"
    "qlClnQq4c13EYyQY9OUcMMAPNQwVgBAhRB7q2EYMw/WTQNq0b3IcUiJU7w6Msw+I\n"
    "3I8+e6PZqxa4ROBRurukTSaeoo3r9Y4QCqkDadeeV0g2UBxhI83vKunPAoGAIHCE\n"
    "xKnjvtVaEOQz6mtlxPDfl0PWhmgt+uDHCvB0xY6wH2gRKodGFBL9en2uysNoHRzs\n"
    "qH3MqpFn/eRW0WE1X3BOeZvlDTgdypP6U1EoPmkUEempgX73y8nXTyxzeiWSebZA\n"
    "PP1jsVOJHIepjJCPIDlRIZsZbTKjgBf1yLVmBI0CgYABKGIwWwt+HyapsaKbUA3O\n"
    "r4MUv33lw660XRop8qSgadK4IFxROCvj1GraH6rGEQRDe0SXR+FfB0fh15pGOBVF\n"
    "fHXBwutp1ryM2diQ9Nrapnu1feWJvEKI2uv6SbghHhHxGHON4orEb/iXhbj03aXh\n"
    "+qlx2AFxStj6II8JxH80hQ==\n"
    "-----END PRIVATE KEY-----\n";
static const char B_CRT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBkDCCATagAwIBAgIUWzj7e2Kk4z/wInX15w93SikZV1IwCgYIKoZIzj0EAwIw\n"
    "EzERMA8GA1UEAwwIKi5iLnRlc3QwHhcNMjYxMTI2MDUyNjE1WhcNMzYxMTIzMDUy\n"
    "NjE1WjATMREwDwYDVQQDDAgqLmIudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
    "A0IABADckkvEDdLNmZX9CFVEc+R1+ofhgEVz1KIsKbZlwDV66li50ysjuGBomXbL\n"
    "+bxZ6ZfNcsBBo1nA6IBM1hSN/HajaDBmMB0GA1UdDgQWBBS5GAi6xNiADpht3B9k\n"
    "mJk8VXXNEDAfBgNVHSMEGDAWgBS5GAi6xNiADpht3B9kmJk8VXXNEDAPBgNVHRMB\n"
    "Af8EBTADAQH/MBMGA1UdEQQMMAqCCCouYi50ZXN0MAoGCCqGSM49BAMCA0gAMEUC\n"
    "IGhQM/fQoye4YhX+GvRHNNFBXq6tytv6bz294aTudUGRAiEAkPKVsiBBw+9EJaza\n"
    "uW57Ls6QAZezZ+lDJYH/99r+O8o=\n"
    "-----END CERTIFICATE-----\n";
static const char B_KEY[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgfU8EbKwP+hukV2Yq\n"
    "R/DTU0yCHqE986ATreOn+Xs6zLShRANCAAQA3JJLxA3SzZmV/QhVRHPkdfqH4YBF\n"
    "c9SiLCm2ZcA1eupYudMrI7hgaJl2y/m8WemXzXLAQaNZwOiATNYUjfx2\n"
    "-----END PRIVATE KEY-----\n";
static const char OTHER_EC_KEY[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIBCkxOlo3FghEuYuIrfpJnOsKA/44wPwxJiPN2UWdKLLoAoGCCqGSM49\n"
    "AwEHoUQDQgAE58IvbTMY6vGyQxb0hgVHK5Or0ZPGDUGqiN9Dh1/cM6OoFXfa/ZGw\n"
    "k+j0IyHWpK27942up7YtlOdBTGCN3futjQ==\n"
    "-----END EC PRIVATE KEY-----\n";
static const char OTHER_RSA_KEY[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAvGi9tNkoFi9jPbSKRpAeg6vXPr4QhlSi0GpHsogGACX2K6hS\n"
    "89FI/CsraS3gtZ4mP+Ar/SdCJcMUSzZlGrUDPdCplO8O+JJ49Mlxhrpifbj7iWL5\n"
    "sHiD2h4ZEL7nmgr9XXOOSGdN6rdzUGnVL7orBtJw0sisj1wh2Xg75OiPXObashlx\n"
    "EFVYYNuy0BOer6yP6uO1vmReNN0rs/01GVfAco5159aaTB/QyoQKYAtNGHF2X+ie\n"
    "HJ3t+c059W0Qbtb9ELwE5UiaAhMlwFm0OO4FrZUpxJRRHtGuBevwg2IQoRne6uHN\n"
    "hIcyGBAiCmFoUl79KM0kaUOoAllZBYOrTC8R3QIDAQABAoIBAAx8SG4OofhuZX42\n"
    "U59/d3Y0UgxHXiL4wt1a3at4FiW2XkzgV7bunI6RccwDjUub0l8TRPb+vgRwnAyr\n"
    "6yFM840KIeLLwMs6MafPHaXW/iXkt06Qb4mBQwOWUQTqEcEEj2u896XWqrQuOgcP\n"
    "LGCATs+h7HYbdEv/yAJ4VEfEHZQDXyB8b13LnKGYl3SPHoyGOisZuYA8uBwZ4hfr\n"
    "NulX6kpdSxe7Q+1HLjJ0jFEX7GtSXr2pG/JnG/AkGJYNZFQQKxOeR3C/oF7h8ld+\n"
    "7l05RIaD4E5jFE3AtT4k1jsFQ0rhXSEhm/UCozEHHPLPVusUe5X0hqcKq0j8QABU\n"
    "BzPMFYUCgYEA88qXzQGDxBtvKQ5X80zREn3yDvxTuYb3LuJeOYXXy38mgEaXkAIN\n"
    "wo73QSeFIV/oK7tjsfNDfrs/ndWZYC4YCPsiHrTJ2kThnKP9tzgTeu6i8OA+h+k7\n"
    "rfkxyzIw/9aw186ESBwRgkgv74sJhep5zNV/1AyeaS1GFKyxOxhqHKsCgYEAxdgl\n"
    "wO1082WYVN+z0shf5kUpfwf2GO4mOgQPZtLvcbjHqPC+FnWBycJunpDAUdgVow8Z\n"
    "9a42hEXrWWOspOiX3Uj7CaxGzYCUMm9Woexr23R5dB3X1ntga0e6EJOnLHyQSOx1\n"
    "RVtWuoA4+HDTZB64aPI2WSuVfN0AWKYoHRl2e5cCgYEA0qHUnARWAyas2S0SYhyZ\n"
    "er+kVrw93kq04CYmwM5aDvERo7zaEEsl9lYtXHa3uIkzgC1MSqBiTWmc4lJ9TLMm\n"
    "gwPvi9YpnFLtFrg9aoKhmhH6Z+FnRWgG7x4hnm0EFtc4PYypj9/oZMbX28Al/zUB\n"
    "/S7tXZl1eGvsY8p86hEDBTcCgYBsYOzFlA716piZHfaHKEcIgKirsvPIUmVUcLbz\n"
    "L+gFVyDg1gh7iyFvIfixGkCQVRv9OB+TazzoFtlHHYgMynGuwfTrJpmep6oHOuCt\n"
    "UTMAg/yodFSxZOK7wg4WWJxCjXYIzKetN8z525XZ2wyiEwYYT18gV/TK8tHmvhbJ\n"
    "YhJ6vwKBgGUj9AwzQziI7Y5bs6/kBhNvJQ5Ul4SprHZR3UXuDGrdqTw5/XqCPQQt\n"
    "Uzs4QyXo5CePgGA90T0jSP3h4CCT7EtG+IMFexF8hlT2/DeHO/kvFMBj1eIPVwas\n"
    "0srHKEvHe1B5bAfnAyrvZa7awnpabRLsjrxkKoeLrfrnVrQ9SW8v\n"
    "-----END RSA PRIVATE KEY-----\n";

/* an RSA pair whose public exponent br_rsa_compute_pubexp cannot recompute (the match
 * check once refused it: regression) */
static const char C_CRT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIDAzCCAeugAwIBAgIUGpISMgL9pa6mLxozn0mawuDgR1gwDQYJKoZIhvcNAQEL\n"
    "BQAwETEPMA0GA1UEAwwGYS50ZXN0MB4XDTI2MTEyNjA1MzAyNFoXDTI2MTEyODA1\n"
    "MzAyNFowETEPMA0GA1UEAwwGYS50ZXN0MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n"
    "MIIBCgKCAQEAlpJ2dZRZ4kraX0Pd/JxC9dpWNAGRE1WBEbfz6S1pmSUTp3PWZSKr\n"
    "qRTNF8OOymCzNIajW3OhfbjjG7a+X1y32pTsFWI69VGF6uVYzIFvaKbmM0j1cs+V\n"
    "43Rz2l2DFyhn6l/VO9YZvbbGgZqlnGXTT5A+UdV4AslRc8So6ZW7adbFsFynE/sU\n"
    "B/8toCxHTEpKNVirxspaUUcr0jN1K48t1MT/dfXqNDig30GrkxonF6zZaObk8+lr\n"
    "KUfPaSa9NAvittTFkDy8oaqAjE5keeKQt+mp+wiPwa83flHMpXG8SJaw6SzS39h6\n"
    "rgMO9PN65eKp/ip5bpMzJ555sssrHbcL8wIDAQABo1MwUTAdBgNVHQ4EFgQUN9Fe\n"
    "lSUMmB+JEn1nT9erPOR4tY0wHwYDVR0jBBgwFoAUN9FelSUMmB+JEn1nT9erPOR4\n"
    "tY0wDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAkBlLzIaOF1v8\n"
    "JayTlIkS3U3tvgkXCVZ56+96l0EBvx7c3iZNnLEVCHd3vFSMBW47unuL8NybXIZP\n"
    "qJxT/OPNJg4WTzZq+EkYKMX8mpyGcQGEEqv9W9OxNmn/0g9ymM0F/i2RtFN7Wwcq\n"
    "D/4UERdr50yx55B87UgMigdOwf7dM5MEMOuo4pzbKLn2gG6qp5Ek18Q4xOwkxSe6\n"
    "tThNPF/Af81L4M0ig0jTU5PZ4DJsoZKW62efNJBDc+4GOwebD5Hm5m9f5JkW6TDJ\n"
    "o5fPPxjiwrMfHyfluHv18Es7Ym6WJN+ZIGEU81p+rdfDi6Jn6ZsDkOCBNrWKjAYM\n"
    "MdiXIVkW+g==\n"
    "-----END CERTIFICATE-----\n";
static const char C_KEY[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCWknZ1lFniStpf\n"
    "Q938nEL12lY0AZETVYERt/PpLWmZJROnc9ZlIqupFM0Xw47KYLM0hqNbc6F9uOMb\n"
    "tr5fXLfalOwVYjr1UYXq5VjMgW9opuYzSPVyz5XjdHPaXYMXKGfqX9U71hm9tsaB\n"
    "mqWcZdNPkD5R1XgCyVFzxKjplbtp1sWwXKcT+xQH/y2gLEdMSko1WKvGylpRRyvS\n"
    "M3Urjy3UxP919eo0OKDfQauTGicXrNlo5uTz6WspR89pJr00C+K21MWQPLyhqoCM\n"
    "TmR54pC36an7CI/Brzd+UcylcbxIlrDpLNLf2HquAw7083rl4qn+KnlukzMnnnmy\n"
    "yysdtwvzAgMBAAECggEAErEAyozNcaV4IT5UBsFBILLnY5JUN5G0MYZj3WzZQH0V\n"
    "SQK8uRZKN/WQliQdDCtf46PZEIe0ot46Nx0C2eSxIA2/ltH4Xq6tkKDC2rQwp82c\n"
    "Iv6qFYQGZ9NzdEaKeOv3pmUaG9DyphXT44/Wgikzx5sw2UjGGpZyKYxeqYyAVN13\n"
    "H+hT7ieZhRiUxL4nkNR5PWgyZVLYDafkAelBBCbgTogZUQPqGQR4ze1gN8ywtuWw\n"
    "zf/wbmP0GgqATnbKC3sQEjXVi6tutoT5UDhz6MA2KIL5rl/HIypi+4JaBJZjfiW4\n"
    "TZoicgSwjhNtlA5/fU8g6tyFWZ3CxTnTv5wuxKZn3QKBgQDPmK1htxZaguLxmy0D\n"
    "60jR9/Qf19bs1yZXJ110FNq3MJDiJIf8UHhfH+mGFUrxU7RomXPkzzcgB7yGH9/K\n"
    "16qLtthq7EJsW7+dDpJwtL4183dv40VX+LShuoqqo2zc52tvktb3kbu7VatfJvIo\n"
    "bkqwQUJA0pR4Cz5W67vk51HKbwKBgQC5rgkdSkeevEDJpHVti5RS+It+RqxlCz19\n"
    "91b9aPaPrSSnPAZJ/uur03IyUxB44cXR0TQluGgEDBSQ4/tUx/58CzTseW9f5ePY\n"
    "ZJVqsXyvdC9ypNCXThVn77IAe0/G/dIkZKejUgqauY95EXvacTfGEcKIX7txNgCa\n"
    "TpsmJyDovQKBgEA+5dmJydc1DnrrJSFDXYPtkpWQPKmLZAgw3JEiKxXqZ8w0tgj1\n"
    "9mqp+6FNUaYh24FLjDxRjKPTARsZHi8uU09txMhCWcQjGMfITLWomf0kXeA4m6tA\n"
    "AtbSXju02+n5jJw4+2IerdSqDKEj8mlkyKSHbbOV9/C2uhI4XivXEs7tAoGBALHW\n"
    "ZzJff2MgKOk4E6Q86G3jUS87n0gT0OyB5hZF3sjTa2SlD9z1RGFI3nompoMwslf4\n"
    "B/sMuMsPiu8O/BxChJHn5eOLl0mBFI2gIJ+UqLgfDoa+Jm6UQdpPb+wYLtuHJSro\n"
    "IMtC+5cfnLO3NCmPAH07a1dUYWHX+BHSsbSEC3f9AoGBAIX61bkpjMcEjmvKUY6f\n"
    "c0aJEjGKju8+4ofKzOXSq1VhDfDcwJdaK0zI72Cl9lV9nbp6C2V4oLWI8xrwUVqM\n"
    "JKANcUKQtg72MaLT3z/4upueHyFqeNPGQ7F67CoZBIys6ICgNPCQ9lsTGg9Mr0FD\n"
    "DaBPvblfydFoSSztTrHWfPPg\n"
    "-----END PRIVATE KEY-----\n";

#define LEN(s) (sizeof(s) - 1)

static void test_pem_decode(void)
{
    char err[256] = "";
    TP_CHECK(tp_ffi_tls_check(A_CRT, LEN(A_CRT), A_KEY, LEN(A_KEY), err, sizeof(err)) == 0);
    TP_CHECK(tp_ffi_tls_check(B_CRT, LEN(B_CRT), B_KEY, LEN(B_KEY), err, sizeof(err)) == 0);
    TP_CHECK(tp_ffi_tls_check(C_CRT, LEN(C_CRT), C_KEY, LEN(C_KEY), err, sizeof(err)) == 0);
    TP_CHECK(tp_ffi_tls_check(C_CRT, LEN(C_CRT), A_KEY, LEN(A_KEY), err, sizeof(err)) < 0);
    /* a chain: leaf then another certificate */
    char chain[4096];
    snprintf(chain, sizeof(chain), "%s%s", A_CRT, B_CRT);
    TP_CHECK(tp_ffi_tls_check(chain, strlen(chain), A_KEY, LEN(A_KEY), err, sizeof(err)) == 0);

    TP_CHECK(tp_ffi_tls_check("not pem", 7, A_KEY, LEN(A_KEY), err, sizeof(err)) < 0);
    TP_CHECK(strstr(err, "cert: not valid PEM") != NULL);
    /* a truncated certificate (no END line) */
    TP_CHECK(tp_ffi_tls_check(A_CRT, 200, A_KEY, LEN(A_KEY), err, sizeof(err)) < 0);
    TP_CHECK(strncmp(err, "cert:", 5) == 0);
    /* base64 that decodes, but not to a certificate */
    static const char bogus[] = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
    TP_CHECK(tp_ffi_tls_check(bogus, LEN(bogus), A_KEY, LEN(A_KEY), err, sizeof(err)) < 0);
    TP_CHECK(strstr(err, "not a valid X.509") != NULL);
    /* a certificate where the key should be */
    TP_CHECK(tp_ffi_tls_check(A_CRT, LEN(A_CRT), A_CRT, LEN(A_CRT), err, sizeof(err)) < 0);
    TP_CHECK(strstr(err, "key: no PRIVATE KEY") != NULL);
    static const char badkey[] = "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n";
    TP_CHECK(tp_ffi_tls_check(A_CRT, LEN(A_CRT), badkey, LEN(badkey), err, sizeof(err)) < 0);
    TP_CHECK(strstr(err, "not a valid RSA or EC private key") != NULL);
    static const char enc[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END ENCRYPTED PRIVATE KEY-----\n";
    TP_CHECK(tp_ffi_tls_check(A_CRT, LEN(A_CRT), enc, LEN(enc), err, sizeof(err)) < 0);
    TP_CHECK(strstr(err, "encrypted") != NULL);
    TP_CHECK(tp_ffi_tls_check("", 0, "", 0, err, sizeof(err)) < 0);
}

static void test_key_mismatch(void)
{
    char err[256] = "";
    TP_CHECK(tp_ffi_tls_check(A_CRT, LEN(A_CRT), OTHER_RSA_KEY, LEN(OTHER_RSA_KEY), err, sizeof(err)) < 0);
    TP_CHECK(strstr(err, "does not match") != NULL);
    TP_CHECK(tp_ffi_tls_check(B_CRT, LEN(B_CRT), OTHER_EC_KEY, LEN(OTHER_EC_KEY), err, sizeof(err)) < 0);
    TP_CHECK(strstr(err, "does not match") != NULL);
    TP_CHECK(tp_ffi_tls_check(A_CRT, LEN(A_CRT), B_KEY, LEN(B_KEY), err, sizeof(err)) < 0);
    TP_CHECK(tp_ffi_tls_check(B_CRT, LEN(B_CRT), A_KEY, LEN(A_KEY), err, sizeof(err)) < 0);
    /* the store refuses the same way, and stays empty */
    tp_tls_store_t *s = tp_tls_store_new();
    const char *names[] = {"a.test"};
    TP_CHECK(tp_tls_store_add(s, A_CRT, LEN(A_CRT), OTHER_RSA_KEY, LEN(OTHER_RSA_KEY), NULL, 0,
                              NULL, 0, names, 1, err, sizeof(err)) < 0);
    /* a bad alternate pair refuses the whole certificate */
    TP_CHECK(tp_tls_store_add(s, A_CRT, LEN(A_CRT), A_KEY, LEN(A_KEY), B_CRT, LEN(B_CRT), A_KEY,
                              LEN(A_KEY), names, 1, err, sizeof(err)) < 0);
    TP_CHECK(tp_tls_store_count(s) == 0);
    TP_CHECK(tp_tls_store_select(s, "a.test") == -1);
    tp_tls_store_release(s);
}

static tp_tls_store_t *three_certs(void)
{
    char err[256] = "";
    tp_tls_store_t *s = tp_tls_store_new();
    const char *a[] = {"a.test", "alias.test"};
    const char *b[] = {"*.b.test"};
    const char *c[] = {"example.*", "A.TEST" /* taken by the first: ignored */};
    TP_CHECK(tp_tls_store_add(s, A_CRT, LEN(A_CRT), A_KEY, LEN(A_KEY), NULL, 0, NULL, 0, a, 2,
                              err, sizeof(err)) == 0);
    TP_CHECK(tp_tls_store_add(s, B_CRT, LEN(B_CRT), B_KEY, LEN(B_KEY), NULL, 0, NULL, 0, b, 1,
                              err, sizeof(err)) == 1);
    TP_CHECK(tp_tls_store_add(s, B_CRT, LEN(B_CRT), B_KEY, LEN(B_KEY), A_CRT, LEN(A_CRT), A_KEY,
                              LEN(A_KEY), c, 2, err, sizeof(err)) == 2);
    return s;
}

static void test_sni_select(void)
{
    tp_tls_store_t *s = three_certs();
    TP_CHECK(tp_tls_store_count(s) == 3);
    TP_CHECK(tp_tls_store_select(s, "a.test") == 0);
    TP_CHECK(tp_tls_store_select(s, "A.Test.") == 0);
    TP_CHECK(tp_tls_store_select(s, "alias.test") == 0);
    TP_CHECK(tp_tls_store_select(s, "x.b.test") == 1);
    TP_CHECK(tp_tls_store_select(s, "X.B.TEST") == 1);
    TP_CHECK(tp_tls_store_select(s, "b.test") == 0);      /* the wildcard needs a label */
    TP_CHECK(tp_tls_store_select(s, "y.x.b.test") == 0);  /* and only one */
    TP_CHECK(tp_tls_store_select(s, "example.com") == 2);
    TP_CHECK(tp_tls_store_select(s, "example.org") == 2);
    TP_CHECK(tp_tls_store_select(s, "www.example.com") == 0);
    TP_CHECK(tp_tls_store_select(s, "unknown.test") == 0); /* default: the first */
    TP_CHECK(tp_tls_store_select(s, "") == 0);
    TP_CHECK(tp_tls_store_select(s, NULL) == 0);
    char longname[600];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    TP_CHECK(tp_tls_store_select(s, longname) == 0);
    tp_tls_store_release(s);

    /* a "*" entry is the default instead of the first certificate */
    char err[256];
    s = tp_tls_store_new();
    const char *a[] = {"a.test"};
    const char *star[] = {"*"};
    tp_tls_store_add(s, A_CRT, LEN(A_CRT), A_KEY, LEN(A_KEY), NULL, 0, NULL, 0, a, 1, err, sizeof(err));
    tp_tls_store_add(s, B_CRT, LEN(B_CRT), B_KEY, LEN(B_KEY), NULL, 0, NULL, 0, star, 1, err, sizeof(err));
    TP_CHECK(tp_tls_store_select(s, "nothing.test") == 1);
    TP_CHECK(tp_tls_store_select(s, NULL) == 1);
    TP_CHECK(tp_tls_store_select(s, "a.test") == 0);
    tp_tls_store_release(s);
    TP_CHECK(tp_tls_store_select(NULL, "a.test") == -1);
}

/* ---- handshakes ------------------------------------------------------------------- */

typedef struct {
    unsigned char der[4096];
    size_t len;
} der_buf_t;

static void on_der(void *ctx, const void *src, size_t len)
{
    der_buf_t *d = ctx;
    if (len <= sizeof(d->der) - d->len) {
        memcpy(d->der + d->len, src, len);
        d->len += len;
    }
}

/* The public key of the first certificate in a PEM text; its bytes go to kbuf. */
static int cert_pkey(const char *pem, size_t len, br_x509_pkey *pk, unsigned char *kbuf)
{
    static der_buf_t d;
    br_pem_decoder_context pc;
    d.len = 0;
    br_pem_decoder_init(&pc);
    while (len > 0) {
        size_t used = br_pem_decoder_push(&pc, pem, len);
        pem += used;
        len -= used;
        int ev = br_pem_decoder_event(&pc);
        if (ev == BR_PEM_BEGIN_OBJ)
            br_pem_decoder_setdest(&pc, on_der, &d);
        else if (ev == BR_PEM_END_OBJ)
            break;
    }
    br_x509_decoder_context xc;
    br_x509_decoder_init(&xc, NULL, NULL);
    br_x509_decoder_push(&xc, d.der, d.len);
    const br_x509_pkey *p = br_x509_decoder_get_pkey(&xc);
    if (p == NULL)
        return -1;
    *pk = *p;
    if (p->key_type == BR_KEYTYPE_RSA) {
        memcpy(kbuf, p->key.rsa.n, p->key.rsa.nlen);
        memcpy(kbuf + p->key.rsa.nlen, p->key.rsa.e, p->key.rsa.elen);
        pk->key.rsa.n = kbuf;
        pk->key.rsa.e = kbuf + p->key.rsa.nlen;
    } else {
        memcpy(kbuf, p->key.ec.q, p->key.ec.qlen);
        pk->key.ec.q = kbuf;
    }
    return 0;
}

/* Drive a BearSSL client engine over fd: send its records, feed it what arrives. */
static int client_pump(br_ssl_engine_context *eng, int fd)
{
    int moved = 0;
    unsigned st = br_ssl_engine_current_state(eng);
    if (st & BR_SSL_SENDREC) {
        size_t len;
        unsigned char *p = br_ssl_engine_sendrec_buf(eng, &len);
        ssize_t n = write(fd, p, len);
        if (n > 0) {
            br_ssl_engine_sendrec_ack(eng, (size_t)n);
            moved = 1;
        }
    }
    st = br_ssl_engine_current_state(eng);
    if (st & BR_SSL_RECVREC) {
        size_t len;
        unsigned char *p = br_ssl_engine_recvrec_buf(eng, &len);
        ssize_t n = read(fd, p, len);
        if (n > 0) {
            br_ssl_engine_recvrec_ack(eng, (size_t)n);
            moved = 1;
        } else if (n == 0) {
            return -1;
        }
    }
    return moved;
}

/*
 * One exchange: the client names `sni` and trusts only `expect_pem`'s key; it sends
 * "ping", the server answers "pong". Returns 1 when the client read "pong", 0 when
 * the handshake failed (on either side).
 */
static int handshake(tp_tls_store_t *s, const char *sni, const char *expect_pem, size_t expect_len)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 0;
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    tp_tls_conn_t *t = tp_tls_conn_new(s);

    static br_ssl_client_context cc;
    static br_x509_minimal_context xm;
    static br_x509_knownkey_context kk;
    static unsigned char cbuf[BR_SSL_BUFSIZE_BIDI];
    static unsigned char kbuf[1024];
    br_x509_pkey pk;
    if (cert_pkey(expect_pem, expect_len, &pk, kbuf) < 0)
        return 0;
    br_ssl_client_init_full(&cc, &xm, NULL, 0);
    if (pk.key_type == BR_KEYTYPE_RSA)
        br_x509_knownkey_init_rsa(&kk, &pk.key.rsa, BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN);
    else
        br_x509_knownkey_init_ec(&kk, &pk.key.ec, BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN);
    br_ssl_engine_set_x509(&cc.eng, &kk.vtable);
    br_ssl_engine_set_buffer(&cc.eng, cbuf, sizeof(cbuf), 1);
    br_ssl_client_reset(&cc, sni, 0);

    int ok = 0, sent = 0, answered = 0;
    char buf[16384];
    for (int round = 0; round < 2000 && !ok; round++) {
        int moved = client_pump(&cc.eng, sv[1]);
        unsigned st = br_ssl_engine_current_state(&cc.eng);
        if (st & BR_SSL_CLOSED)
            break;
        if (!sent && (st & BR_SSL_SENDAPP)) {
            size_t len;
            unsigned char *p = br_ssl_engine_sendapp_buf(&cc.eng, &len);
            memcpy(p, "ping", 4);
            br_ssl_engine_sendapp_ack(&cc.eng, 4);
            br_ssl_engine_flush(&cc.eng, 0);
            sent = 1;
        }
        if (st & BR_SSL_RECVAPP) {
            size_t len;
            unsigned char *p = br_ssl_engine_recvapp_buf(&cc.eng, &len);
            ok = len >= 4 && memcmp(p, "pong", 4) == 0;
            br_ssl_engine_recvapp_ack(&cc.eng, len);
        }
        ssize_t n = tp_tls_recv(t, sv[0], buf, sizeof(buf));
        if (n < 0 && errno != EAGAIN)
            break;
        if (n == 4 && memcmp(buf, "ping", 4) == 0 && !answered) {
            TP_CHECK(tp_tls_send(t, sv[0], "pong", 4) == 4);
            TP_CHECK(tp_tls_flush(t, sv[0]) == 0);
            answered = 1;
        }
        (void)moved;
    }
    if (ok) {
        TP_CHECK(strcmp(tp_tls_server_name(t), sni ? sni : "") == 0);
        TP_CHECK(tp_tls_last_error(t) == 0);
        tp_tls_close(t, sv[0]);
    }
    tp_tls_conn_free(t);
    close(sv[0]);
    close(sv[1]);
    return ok;
}

static void test_handshake_sni(void)
{
    tp_tls_store_t *s = three_certs();
    TP_CHECK(handshake(s, "a.test", A_CRT, LEN(A_CRT)) == 1);        /* RSA */
    TP_CHECK(handshake(s, "x.b.test", B_CRT, LEN(B_CRT)) == 1);      /* EC, by wildcard */
    TP_CHECK(handshake(s, "x.b.test", A_CRT, LEN(A_CRT)) == 0);      /* not the RSA one */
    TP_CHECK(handshake(s, "nobody.test", A_CRT, LEN(A_CRT)) == 1);   /* default */
    TP_CHECK(handshake(s, "example.net", B_CRT, LEN(B_CRT)) == 1);   /* prefix wildcard */
    tp_tls_store_release(s);
}

static void test_garbage_closes(void)
{
    tp_tls_store_t *s = three_certs();
    int sv[2];
    TP_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    tp_tls_conn_t *t = tp_tls_conn_new(s);
    static const char req[] = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
    TP_CHECK(write(sv[1], req, LEN(req)) == (ssize_t)LEN(req));
    char buf[16384];
    ssize_t n = tp_tls_recv(t, sv[0], buf, sizeof(buf));
    TP_CHECK(n < 0 && errno == EPROTO);
    TP_CHECK(tp_tls_last_error(t) != 0);
    TP_CHECK(tp_tls_send(t, sv[0], "x", 1) < 0);
    /* a peer that leaves mid-handshake is a plain end */
    tp_tls_conn_free(t);
    close(sv[0]);
    close(sv[1]);
    TP_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    tp_tls_conn_t *t2 = tp_tls_conn_new(s);
    TP_CHECK(tp_tls_recv(t2, sv[0], buf, sizeof(buf)) < 0 && errno == EAGAIN);
    close(sv[1]);
    TP_CHECK(tp_tls_recv(t2, sv[0], buf, sizeof(buf)) == 0);
    tp_tls_conn_free(t2);
    close(sv[0]);
    tp_tls_store_release(s);
}

/* A connection keeps its store alive after the generation dropped it. */
static void test_refcount(void)
{
    tp_tls_store_t *s = three_certs();
    TP_CHECK(tp_tls_conn_new(NULL) == NULL);
    tp_tls_store_t *empty = tp_tls_store_new();
    TP_CHECK(tp_tls_conn_new(empty) == NULL);
    tp_tls_store_release(empty);
    TP_CHECK(tp_tls_store_hold(s) == s);
    tp_tls_store_release(s); /* back to the generation's one reference */

    int sv[2];
    TP_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    tp_tls_conn_t *t = tp_tls_conn_new(s);
    tp_tls_store_release(s); /* the "reload": only the connection holds it now */
    /* the handshake still finds its certificates (ASan would see a freed store) */
    close(sv[0]);
    close(sv[1]);
    tp_tls_conn_free(t); /* the last reference: the store goes (a leak fails LSan) */

    s = three_certs();
    TP_CHECK(handshake(s, "a.test", A_CRT, LEN(A_CRT)) == 1);
    tp_tls_store_release(s);
}

/* The store survives the generation mid-handshake: release between two pumps. */
static void test_release_mid_handshake(void)
{
    tp_tls_store_t *s = three_certs();
    tp_tls_store_hold(s);
    int ok = handshake(s, "x.b.test", B_CRT, LEN(B_CRT));
    tp_tls_store_release(s);
    TP_CHECK(ok == 1);
    tp_tls_store_release(s);
}

int main(void)
{
    TP_RUN(test_pem_decode);
    TP_RUN(test_key_mismatch);
    TP_RUN(test_sni_select);
    TP_RUN(test_handshake_sni);
    TP_RUN(test_garbage_closes);
    TP_RUN(test_refcount);
    TP_RUN(test_release_mid_handshake);
    return TP_TEST_REPORT();
}
