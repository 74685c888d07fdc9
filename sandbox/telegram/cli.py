"""Run the emulator on its own, e.g. for the demo or for poking at the bot by hand."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .emulator import TelegramEmulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.telegram",
        description="Telegram Bot API emulator with a phone page for test patients.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:ABC", help="bot token to accept")
    parser.add_argument("--bot-username", default="kabinet_demo_bot")
    parser.add_argument("--bot-name", default="Клиника", help="the bot's first_name")
    parser.add_argument(
        "--no-limits", action="store_true", help="do not answer 429 past Telegram's sending limits"
    )
    parser.add_argument("--global-per-second", type=int, default=30)
    parser.add_argument("--per-chat-per-second", type=int, default=1)
    parser.add_argument("--group-per-minute", type=int, default=20)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    emu = TelegramEmulator(
        host=args.host,
        port=args.port,
        enforce_limits=not args.no_limits,
        global_per_second=args.global_per_second,
        per_chat_per_second=args.per_chat_per_second,
        group_per_minute=args.group_per_minute,
    )
    emu.register_bot(token=args.token, username=args.bot_username, first_name=args.bot_name)
    try:
        emu.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # SIGTERM (docker stop, systemd) should shut down as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _on_signal)
    print(f"Telegram emulator on {emu.url}", flush=True)
    print(f"  API URL:    {emu.api_url}   (telebot.apihelper.API_URL)", flush=True)
    print(f"  File URL:   {emu.file_url}   (telebot.apihelper.FILE_URL)", flush=True)
    print(f"  Bot:        @{args.bot_username}, token {args.token}", flush=True)
    print(f"  Phone page: {emu.url}/phone", flush=True)
    print(f"  Control:    {emu.url}/_emulator/", flush=True)
    print("Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
