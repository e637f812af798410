"""aiosmtpd handlers for the tests (this folder on PYTHONPATH):

    python3 -m aiosmtpd -c smtp_handlers.SlowMailbox MAILDIR DELAY
        stores each message in a Maildir like aiosmtpd.handlers.Mailbox, then waits DELAY seconds
        before it answers, so that a test can kill the sender after the server accepted a message
        and before the sender learns that it did;
    python3 -m aiosmtpd -c smtp_handlers.Refusing MAILDIR
        answers every recipient with 451 (try again later), as a server under trouble does.
"""
import asyncio

from aiosmtpd.handlers import Mailbox


class SlowMailbox(Mailbox):
    def __init__(self, mail_dir, delay):
        super().__init__(mail_dir)
        self.delay = float(delay)

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.delay)
        return answer

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 2:
            parser.error("SlowMailbox takes MAILDIR DELAY")
        return cls(args[0], args[1])


class Refusing(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "451 4.3.0 Try again later"
