"""Notification channels beside the in-app rows (spec 7.3.7; issue 12 item 5): Telegram and email,
per user and severity, through an outbox (`delivery.py`); the Telegram bot that answers the
rollback button (`bot.py`)."""
