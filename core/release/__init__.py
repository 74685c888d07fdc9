"""Release bundles: one signed file per release and Python version, and installing them.

bundle.py builds and verifies bundles (manifest of SHA-256 sums, Ed25519 signature);
keys.py holds the vendor's public keys the installed appliance trusts; deploy.py finds the
installation's layout and hands a verified bundle to installer/update.sh.
"""
