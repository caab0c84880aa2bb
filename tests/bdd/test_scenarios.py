from pytest_bdd import scenarios

scenarios("delivery_lifecycle.feature", "message_parts.feature")
