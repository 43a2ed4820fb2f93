"""Who receives: residents, their subscriptions, confirmation codes and the words they send us."""
