"""People: users and groups, notifications, mail delivery and the daily digest."""
