"""The Infobip adapter: Infobip's wire format, spoken over httpx."""
