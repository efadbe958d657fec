"""Alerts: events from member accounts in subscribed channels, with Investigate and Mute."""
