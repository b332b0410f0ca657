/*
 * tp_test_certs.h - test certificates (EC P-256, valid for 100 years, made once with
 * the openssl CLI): a CA, "up.test" signed by it, its key, and an unrelated CA; for the
 * tests of TLS clients against tp_tls's server (test_tls_client.c, test_httpc.c).
 */
#ifndef TP_TEST_CERTS_H
#define TP_TEST_CERTS_H

static const char TEST_CA_CRT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBjTCCATOgAwIBAgIUftNcEbs9A4gtPa74sz860Fx6zTgwCgYIKoZIzj0EAwIw\n"
    "GzEZMBcGA1UEAwwQdHVybnBpa2UtdW5pdC1jYTAgFw0yNjExMjYwNTUzNTRaGA8y\n"
    "MTI2MTEwMjA1NTM1NFowGzEZMBcGA1UEAwwQdHVybnBpa2UtdW5pdC1jYTBZMBMG\n"
    "ByqGSM49AgEGCCqGSM49AwEHA0IABEvScjEmf0iX9s5xPuS9SaMwsmHhK9uRnFzJ\n"
    "jFXJexA8WhHa7zT+V9wxsqE7hpnjLXA2z1JXTT7wGCJR1sUpPIWjUzBRMB0GA1Ud\n"
    "DgQWBBSgXhUZE3b5N1T4NJqVg2PDknrliDAfBgNVHSMEGDAWgBSgXhUZE3b5N1T4\n"
    "NJqVg2PDknrliDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQDN\n"
    "GUfhU3+//23cCfKjYphKkTlJqgCsmDlL7dRH+EIOXgIgbSqP6tHzvHd2nByiGtiV\n"
    "rnaWiGF2+7f2hIpGu9pcEF8=\n"
    "-----END CERTIFICATE-----\n";
static const char TEST_UP_CRT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBkTCCATigAwIBAgIUD2nf0O1jSHH84u7SjEdDMtkWbEIwCgYIKoZIzj0EAwIw\n"
    "GzEZMBcGA1UEAwwQdHVybnBpa2UtdW5pdC1jYTAgFw0yNjExMjYwNTUzNTRaGA8y\n"
    "MTI2MTEwMjA1NTM1NFowEjEQMA4GA1UEAwwHdXAudGVzdDBZMBMGByqGSM49AgEG\n"
    "CCqGSM49AwEHA0IABDE9fxsFci2omm0bf0XlKSjtDipXbA0bmtvemR2xs9cNX6W8\n"
    "QznRaRcP4feDPRaH37qGIGGpjhA2PpWQCUly7CqjYTBfMBIGA1UdEQQLMAmCB3Vw\n"
    "LnRlc3QwCQYDVR0TBAIwADAdBgNVHQ4EFgQUt6CKZiF4w20T9XyDRXgmIqSn7ysw\n"
    "HwYDVR0jBBgwFoAUoF4VGRN2+TdU+DSalYNjw5J65YgwCgYIKoZIzj0EAwIDRwAw\n"
    "RAIgAMkhqoi5seX6U1kaXKqhteQj373VLxgoqOpCwrDvkRICIGhY/rYxpmGNO2Qa\n"
    "taw8kUmSfQBSMDuwDdOOr1WXj/vy\n"
    "-----END CERTIFICATE-----\n";
static const char TEST_UP_KEY[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIEwp71pvdXZQxaUa\n"
    "8wWxht8KaxR3YvvFUlDAqf29AW6hRANCAAQxPX8bBXItqJptG39F5Sko7Q4qV2wN\n"
    "G5rb3pkdsbPXDV+lvEM50WkXD+H3gz0Wh9+6hiBhqY4QNj6VkAlJcuwq\n"
    "-----END PRIVATE KEY-----\n";
static const char TEST_OTHER_CRT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBfTCCASOgAwIBAgIUEBsOZeHT2U0TAoUyVGbvnd6RUywwCgYIKoZIzj0EAwIw\n"
    "EzERMA8GA1UEAwwIb3RoZXItY2EwIBcNMjYxMTI2MDU1MzU0WhgPMjEyNjExMDIw\n"
    "NTUzNTRaMBMxETAPBgNVBAMMCG90aGVyLWNhMFkwEwYHKoZIzj0CAQYIKoZIzj0D\n"
    "AQcDQgAE0SbHIy9YAfCydWzJ0RUNIjeRnJFyn+Hz9E+H2GhOuqmJ5gFAZfVrXi5Q\n"
    "nbwFYkartnJm0nvJMIpKzVgmd7dwTKNTMFEwHQYDVR0OBBYEFE4eFmzIORxJZSe1\n"
    "6z61yfuM8JgVMB8GA1UdIwQYMBaAFE4eFmzIORxJZSe16z61yfuM8JgVMA8GA1Ud\n"
    "EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgHfybGGUPvhC4hZe/kjWnj2Ok\n"
    "H0A5TZKYosrKmvDFCg0CIQDMFF/HyN2CDWdZZlXcWKiv7zSA6oJF9S0YsMxbesTX\n"
    "vg==\n"
    "-----END CERTIFICATE-----\n";


#endif
