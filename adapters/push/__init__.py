"""Event subscriptions' requests to the platform's receivers, over httpx."""
