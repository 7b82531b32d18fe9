"""Command line: `python -m devhost [serve]`, `python -m devhost simulate call|business|sms ...`
and `python -m devhost transcript` (a customer's conversation as the app stored it)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path

from devhost.settings_file import load_settings
from devhost.simulate import (
    DEMO_BUSINESS,
    DEMO_CALLER,
    DEMO_OWNER,
    register_business,
    show_transcript,
    simulate_sms,
)
from devhost.simulate_call import OUTCOME_HELP, OUTCOMES, simulate_call

SMS_HELP = f"""\
A text to the business number, signed as Twilio signs it. The simulator then watches the SMS
sandbox and prints what the app texted back: a customer's reply comes BURST_WINDOW_SECONDS
(default 2 s) after their text, so it waits for that (up to --wait seconds).

Owner takeover: text from the owner's phone (the business's owner_phone, {DEMO_OWNER} for the
demo business) and start with the conversation's number, shown in the owner's alert and by
`python -m devhost transcript`:
  simulate sms --from {DEMO_OWNER} --body "#12 On my way"
      the customer gets "On my way"; the assistant pauses and the customer's texts are
      relayed to the owner's phone
  simulate sms --from {DEMO_OWNER} --body "#12 release"
      back to the assistant (also "resume" or "bot"); "#12 close" closes the conversation
With only one open conversation the "#12" may be left out.
"""


CALL_HELP = (
    """\
A caller rings the business; the simulator plays Twilio by the TwiML the app answers, posting
only the parameters Twilio sends, signed as Twilio signs them. It rings every <Number> of the
<Dial> (the owner and team phones; the first one is the phone that answers), runs the human
check the app asked for (<Number url>: "press 1"; or AMD's amdStatusCallback), posts the <Dial
action>, and, when the app answers with <Record>, can leave a voicemail. Then it prints the
texts the app sent (the SMS sandbox).

outcomes (--outcome):
"""
    + "\n".join(f"  {name:<10} {text}" for name, text in OUTCOME_HELP.items())
    + """

--leave-voicemail "words": after a miss (or after hours) the caller speaks after the beep. The
words become a real WAV on this machine (espeak-ng when installed, else tones written with
Python's wave module), stored in devhost's sandbox Twilio (/sandbox/twilio/...Recordings/RE..),
then the Record action and the recordingStatusCallback are posted. The simulator then shows
the owner's voicemail alert, whether its listen link plays, whether the recording is gone from
the sandbox Twilio, and the blob in the local container (VOICEMAIL_CONTAINER).

examples:
  simulate call                                   # no-answer: text-back and owner alert
  simulate call --outcome voicemail               # carrier voicemail answered: still a miss
  simulate call --outcome accepted                # the owner took it: no text
  simulate call --leave-voicemail "my furnace is out, please call back"
"""
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="run the local stack and function host (default)")
    serve.add_argument("--port", type=int, default=7071)
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    serve.add_argument(
        "--data-dir", type=Path, default=None, help="where embedded services keep data (.data)"
    )

    simulate = commands.add_parser("simulate", help="play Twilio against a running host")
    kinds = simulate.add_subparsers(dest="kind", required=True)
    default_host = os.environ.get("DEVHOST_URL", "http://localhost:7071")

    call = kinds.add_parser(
        "call",
        help="a caller rings the business (missed, answered, voicemail)",
        description=CALL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    call.add_argument("--from", dest="from_number", default=DEMO_CALLER, help="the caller")
    call.add_argument("--to", dest="to_number", default=DEMO_BUSINESS, help="the business number")
    call.add_argument(
        "--outcome", choices=OUTCOMES, default="no-answer", help="how the owner's side ends"
    )
    call.add_argument(
        "--duration", type=int, default=None, help="DialCallDuration in seconds (the leg's length)"
    )
    call.add_argument(
        "--leave-voicemail", metavar="WORDS", default=None,
        help="if the app answers <Record>, the caller leaves these words as a voicemail",
    )  # fmt: skip
    call.add_argument("--host", default=default_host)
    call.add_argument(
        "--wait", type=float, default=None,
        help="at most this many seconds to watch the sandbox (10; 30 with a voicemail)",
    )  # fmt: skip

    business = kinds.add_parser("business", help="register a demo business (admin API)")
    business.add_argument("--name", default="Demo Plumbing")
    business.add_argument("--number", default=DEMO_BUSINESS, help="the business's Twilio number")
    business.add_argument("--owner", default=DEMO_OWNER, help="the owner's own phone")
    business.add_argument("--time-zone", default="America/New_York")
    business.add_argument("--host", default=default_host)

    sms = kinds.add_parser(
        "sms",
        help="a customer (or the owner: takeover) texts the business number",
        description=SMS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sms.add_argument(
        "--from", dest="from_number", default=DEMO_CALLER,
        help=f"sender: a customer (default {DEMO_CALLER}) or the owner's phone for commands",
    )  # fmt: skip
    sms.add_argument("--to", dest="to_number", default=DEMO_BUSINESS)
    sms.add_argument("--body", required=True, help='the text, e.g. "My sink is leaking"')
    sms.add_argument("--host", default=default_host)
    sms.add_argument(
        "--wait", type=float, default=20.0, help="at most this many seconds to watch the sandbox"
    )

    followups = kinds.add_parser(
        "followups", help="send a caller's next follow-up now (as the timer would when due)"
    )
    followups.add_argument("--phone", default=DEMO_CALLER, help="the caller's phone (E.164)")
    followups.add_argument("--steps", type=int, default=1, help="how many steps to send")
    followups.add_argument("--host", default=default_host)
    followups.add_argument("--wait", type=float, default=20.0)

    funnel = kinds.add_parser(
        "funnel", help="print the recovery funnel of the business a caller talked to"
    )
    funnel.add_argument("--phone", default=DEMO_CALLER, help="the caller's phone (E.164)")
    funnel.add_argument("--days", type=int, default=7, help="how many local days back")
    funnel.add_argument("--host", default=default_host)

    transcript = commands.add_parser(
        "transcript",
        help="print a customer's latest conversation (time, author, text)",
        description="The latest conversation(s) with a customer's phone, read from the running"
        " host's GET /sandbox/transcript: every text in order, who wrote it (customer,"
        " assistant, owner, system), and the conversation's number for owner commands.",
    )
    transcript.add_argument("--phone", default=DEMO_CALLER, help="the customer's phone (E.164)")
    transcript.add_argument("--limit", type=int, default=1, help="how many conversations")
    transcript.add_argument("--host", default=default_host)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # SDK and embedded-server chatter drowns the app's own logs; so does the simulator's polling.
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    logging.getLogger("devhost.access").addFilter(
        lambda record: "/sandbox/messages" not in record.getMessage()
    )
    if args.command in (None, "serve"):
        from devhost.stack import DATA_DIR, serve

        port = getattr(args, "port", 7071)
        host = getattr(args, "host", "127.0.0.1")
        data_dir = getattr(args, "data_dir", None) or DATA_DIR
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(port=port, host=host, data_dir=data_dir))
        return 0

    load_settings()  # the simulator signs with TWILIO_AUTH_TOKEN from the same settings
    try:
        if args.command == "transcript":
            asyncio.run(show_transcript(args.host, args.phone, limit=args.limit))
        elif args.kind == "call":
            asyncio.run(
                simulate_call(
                    args.host,
                    args.from_number,
                    args.to_number,
                    args.outcome,
                    args.duration,
                    leave_voicemail_words=args.leave_voicemail,
                    wait=args.wait,
                )
            )
        elif args.kind == "followups":
            from devhost.simulate_followups import simulate_followups

            asyncio.run(simulate_followups(args.host, args.phone, steps=args.steps, wait=args.wait))
        elif args.kind == "funnel":
            from devhost.simulate_followups import show_funnel

            asyncio.run(show_funnel(args.host, args.phone, days=args.days))
        elif args.kind == "business":
            asyncio.run(
                register_business(args.host, args.name, args.number, args.owner, args.time_zone)
            )
        else:
            asyncio.run(
                simulate_sms(args.host, args.from_number, args.to_number, args.body, wait=args.wait)
            )
    except OSError as exc:  # aiohttp.ClientConnectorError is an OSError
        print(f"cannot reach {args.host}: {exc}. Is the host running (make dev)?", file=sys.stderr)
        return 1
    except LookupError as exc:  # the host answered, but not with a transcript
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
