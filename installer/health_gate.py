"""Is the release just started healthy enough to keep? Run by installer/common.sh.

    python health_gate.py URL [BASELINE_JSON]

Exit 0 if so; else exit 1 printing why. The store and the runner must be fine (a release
whose runner cannot start, or whose schema is wrong, is rolled back), and every check that
was fine before the update (the baseline, `kabinet status --json` of the old release) must
be fine now: an MIS that was already down, or a bot with no token yet, is the clinic's
matter, not the release's, and does not block it. Without a baseline (a first install) the
store and the runner decide; from a /healthz that gives no checks (an older release), an
HTTP 200. Standard library only.
"""

import json
import sys
import urllib.error
import urllib.request


def main() -> int:
    url = sys.argv[1]
    baseline_path = sys.argv[2] if len(sys.argv) > 2 else ""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as exc:  # 503 carries the report too
        status, body = exc.code, exc.read()
    except OSError as exc:
        print(f"no answer: {exc}")
        return 1
    try:
        checks = json.loads(body).get("checks")
    except (ValueError, AttributeError):
        checks = None
    before = {}
    if baseline_path:
        try:
            with open(baseline_path, encoding="utf-8") as f:
                before = json.load(f).get("checks") or {}
        except (OSError, ValueError, AttributeError):
            before = {}
    if not isinstance(checks, dict):
        if status == 200:
            return 0
        print(f"HTTP {status}")
        return 1
    bad = []
    for name, check in checks.items():
        if not isinstance(check, dict) or check.get("ok") is not False:
            continue
        if name in ("store", "runner") or (before.get(name) or {}).get("ok") is True:
            bad.append(f"{name}: {check.get('summary', 'bad')}")
    if bad:
        print("; ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
