"""The HTTP service: Infobip's webhooks (and, later, the client API), on FastAPI."""
