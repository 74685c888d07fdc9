"""The vendor's release-signing public keys (Ed25519, raw 32 bytes, base64).

An installed appliance accepts an update only if its manifest is signed by one of these.
The private key never enters the repository: `make release` reads it from
$KABINET_SIGNING_KEY (see the Makefile). To rotate, ship a release that trusts both keys,
then sign with the new one.
"""

VENDOR_KEYS: tuple[str, ...] = ("D0pSqEM1b7+7poyHx1BcwKhlLeFa0uDfiN/DHWrhEYM=",)
