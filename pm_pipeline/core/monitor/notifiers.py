"""Send alert notifications: a webhook (JSON or Slack-compatible) and e-mail through SMTP.

Every send is retried with exponential backoff; a notifier that still fails is reported as a
failed :class:`Delivery`, never raised, so an unreachable endpoint cannot fail a run or a sensor.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from pm_pipeline.core.config.monitoring import SmtpNotifier, WebhookNotifier, duration_seconds
from pm_pipeline.core.monitor.alerts import Notification, Transition
from pm_pipeline.core.security.masking import mask_url

PAYLOAD_SCHEMA_VERSION = "1.0"
_SLACK_EMOJI = {
    Transition.FIRING: ":rotating_light:",
    Transition.REPEAT: ":warning:",
    Transition.ESCALATED: ":fire:",
    Transition.RESOLVED: ":white_check_mark:",
}


@dataclass(frozen=True)
class Delivery:
    """The outcome of sending one notification through one notifier."""

    notifier: str
    rule: str
    transition: str
    ok: bool
    attempts: int
    error: str | None = None

    def as_record(self, *, at: float) -> dict[str, Any]:
        return {
            "at": at,
            "notifier": self.notifier,
            "rule": self.rule,
            "transition": self.transition,
            "attempts": self.attempts,
            "error": self.error,
        }


def webhook_payload(notification: Notification, *, format: str, migration: str) -> dict[str, Any]:
    if format == "slack":
        emoji = _SLACK_EMOJI[notification.transition]
        return {
            "text": f"{emoji} {notification.title}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} *{notification.title}*"}},
                *(
                    [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(notification.details)}}]
                    if notification.details
                    else []
                ),
            ],
        }
    return {
        "schema_version": PAYLOAD_SCHEMA_VERSION,
        "migration": migration,
        "rule": notification.rule,
        "transition": notification.transition.value,
        "severity": notification.severity.value,
        "subjects": list(notification.subjects),
        "title": notification.title,
        "details": list(notification.details),
    }


def _with_retries(
    attempt: Callable[[], None], *, retries: int, backoff: float, sleep: Callable[[float], None]
) -> tuple[int, str | None]:
    error: str | None = None
    for number in range(1, retries + 2):
        try:
            attempt()
            return number, None
        except (OSError, httpx.HTTPError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if number <= retries:
            sleep(backoff * 2 ** (number - 1))
    return retries + 1, error


def send_webhook(
    name: str,
    config: WebhookNotifier,
    notification: Notification,
    *,
    migration: str,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    payload = webhook_payload(notification, format=config.format, migration=migration)
    timeout = duration_seconds(config.timeout)

    def attempt() -> None:
        response = httpx.post(config.url, json=payload, headers=config.headers, timeout=timeout)
        response.raise_for_status()

    attempts, error = _with_retries(
        attempt, retries=config.retries, backoff=duration_seconds(config.backoff), sleep=sleep
    )
    if error is not None:
        error = error.replace(config.url, mask_url(config.url))
    return Delivery(name, notification.rule, notification.transition.value, error is None, attempts, error)


def email_message(notification: Notification, *, sender: str, recipients: Sequence[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = notification.title
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content(notification.text + "\n")
    return message


def send_email(
    name: str,
    config: SmtpNotifier,
    notification: Notification,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    message = email_message(notification, sender=config.sender, recipients=config.recipients)
    timeout = duration_seconds(config.timeout)

    def attempt() -> None:
        with smtplib.SMTP(config.host, config.port, timeout=timeout) as client:
            if config.starttls:
                client.starttls()
            if config.username is not None and config.password is not None:
                client.login(config.username, config.password)
            client.send_message(message)

    attempts, error = _with_retries(
        attempt, retries=config.retries, backoff=duration_seconds(config.backoff), sleep=sleep
    )
    return Delivery(name, notification.rule, notification.transition.value, error is None, attempts, error)


def dispatch(
    notifications: Sequence[Notification],
    notifiers: Mapping[str, WebhookNotifier | SmtpNotifier],
    *,
    migration: str,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Send each notification through each of its notifiers; never raises for a failed send."""
    deliveries: list[Delivery] = []
    for notification in notifications:
        for name in notification.notify:
            config = notifiers[name]
            if isinstance(config, WebhookNotifier):
                deliveries.append(send_webhook(name, config, notification, migration=migration, sleep=sleep))
            else:
                deliveries.append(send_email(name, config, notification, sleep=sleep))
    return deliveries
