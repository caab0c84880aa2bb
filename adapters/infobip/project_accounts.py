"""Infobip accounts as the projects configured them (smsledger.application.projects), with
their API keys opened and webhook URLs that carry each integration's credentials for
Infobip to call back."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from smsledger.adapters.infobip.accounts import AccountDirectory, AccountUnusable, InfobipAccount
from smsledger.application.projects import ProjectDirectory


class ProjectAccounts(AccountDirectory):
    def __init__(self, projects: ProjectDirectory, public_url: str) -> None:
        self.projects = projects
        self.public_url = public_url.rstrip("/")

    def account(self, project_id: str, integration_id: str) -> InfobipAccount | None:
        settings = self.projects.find(project_id)
        integration = settings.integrations.get(integration_id) if settings else None
        if integration is None:
            return None
        api_key = self.projects.api_key(project_id, integration)
        if api_key is None:
            raise AccountUnusable(
                f"integration {integration_id!r}'s API key was sealed with another secret "
                "key than this service's: PUT the integration again with its API key")
        secret = self.projects.webhook_secret(project_id, integration)
        return InfobipAccount(
            base_url=integration.base_url, api_key=api_key,
            delivery_webhook_url=self._with_credentials(
                f"{self.public_url}/v1/webhooks/infobip/{project_id}/{integration_id}"
                "/delivery-reports", integration_id, secret))

    @staticmethod
    def _with_credentials(url: str, user: str, secret: str) -> str:
        parts = urlsplit(url)
        netloc = f"{quote(user, safe='')}:{quote(secret, safe='')}@{parts.netloc}"
        return urlunsplit(parts._replace(netloc=netloc))
