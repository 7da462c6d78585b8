"""Alerts to people: routes (`routes`), messages (`render`) and delivery from the outbox."""
