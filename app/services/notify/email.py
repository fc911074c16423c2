"""Alert emails: stdlib smtplib + EmailMessage in the sync task (analytics-reports-operations.md §5)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from app.core.config import Settings, SmtpSecurity, secret_value
from app.services.notify.errors import ChannelError


def send_email(settings: Settings, to: str, subject: str, body: str) -> str:
    """Send one plain-text email; returns its Message-ID. Errors are ChannelErrors without the
    password (smtplib's own texts never hold it)."""
    if not settings.SMTP_HOST:
        raise ChannelError("email is not configured: set SMTP_HOST", permanent=True)
    message = EmailMessage()
    message["From"] = settings.SMTP_FROM
    message["To"] = to
    message["Subject"] = subject
    domain = settings.SMTP_FROM.rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid("adolf", domain=domain)
    message.set_content(body)
    timeout = settings.NOTIFY_TIMEOUT
    try:
        if settings.SMTP_SECURITY is SmtpSecurity.SSL:
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.SMTP_HOST, settings.SMTP_PORT, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(settings.SMTP_HOST, settings.SMTP_PORT, timeout=timeout)
        with server:
            if settings.SMTP_SECURITY is SmtpSecurity.STARTTLS:
                server.starttls(context=ssl.create_default_context())
            if settings.SMTP_USERNAME:
                password = secret_value(settings.SMTP_PASSWORD)
                server.login(settings.SMTP_USERNAME, password)
            server.send_message(message)
    except smtplib.SMTPRecipientsRefused:
        raise ChannelError(f"email: the server refused the address {to}", permanent=True) from None
    except smtplib.SMTPAuthenticationError as error:
        raise ChannelError(
            f"email: login refused ({error.smtp_code}); check SMTP_USERNAME/SMTP_PASSWORD"
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise ChannelError("email: the server does not offer STARTTLS; set SMTP_SECURITY") from None
    except (smtplib.SMTPException, OSError) as error:
        raise ChannelError(f"email: {type(error).__name__}: {str(error)[:200]}") from None
    return str(message["Message-ID"])
