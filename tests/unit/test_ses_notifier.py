"""Tenant notifications: SES email from the sender identity, or a log line; never raises."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.ses import LogNotifier, SesNotifier, message


class FakeSes:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail

    def send_email(self, **request: Any) -> dict[str, str]:
        if self.fail:
            raise ClientError({"Error": {"Code": "MessageRejected"}}, "SendEmail")
        self.sent.append(request)
        return {"MessageId": "m-1"}


def test_a_decline_is_emailed_to_the_tenant_from_the_sender_identity() -> None:
    ses = FakeSes()
    notifier = SesNotifier(ses, "billing@example.com", {"acme": "ops@acme.test"}.get)

    notifier.notify("acme", "declined", {"intent": "pi_1", "decline_code": "insufficient_funds"})

    (sent,) = ses.sent
    assert sent["Source"] == "billing@example.com"
    assert sent["Destination"] == {"ToAddresses": ["ops@acme.test"]}
    assert "declined" in sent["Message"]["Subject"]["Data"]
    assert "insufficient_funds" in sent["Message"]["Body"]["Text"]["Data"]


def test_no_address_or_an_ses_failure_is_logged_not_raised() -> None:
    ses = FakeSes(fail=True)

    SesNotifier(ses, "billing@example.com", lambda tenant: None).notify("acme", "no_card", {})
    SesNotifier(ses, "billing@example.com", lambda tenant: "a@b.test").notify(
        "acme", "authentication_required", {"intent": "pi_2"}
    )
    LogNotifier().notify("acme", "declined", {"intent": "pi_3"})

    assert ses.sent == []


def test_every_kind_the_service_sends_has_its_own_text() -> None:
    for kind in ("declined", "authentication_required", "no_card"):
        subject, text = message(kind, {})
        assert kind not in ("declined",) or "declined" in subject
        assert "{" not in text and text
