"""The campaign audit as a table for people (the JSON form is CampaignAudit.to_dict)."""

from __future__ import annotations

from smsledger.application.audit import CampaignAudit

# The funnel as people read it: (label, indented by depth; audit key; what it means).
# The report page (adapters/report) shows the same rows.
FUNNEL_ROWS = [
    ("requested", "requested", "messages the campaign asked for"),
    ("  unresolved", "unresolved", "no definite answer from Infobip yet"),
    ("  enqueue_failed", "enqueue_failed", "Infobip refused the send request"),
    ("  enqueued", "enqueued", "accepted by Infobip"),
    ("    delivered", "delivered", "delivered to the handset"),
    ("    rejected", "rejected", "rejected by Infobip"),
    ("    failed", "failed", "undeliverable or expired"),
    ("    pending", "pending", "waiting window still open"),
    ("    no_report_expected", "no_report_expected", "country sends no delivery reports"),
    ("    no_report_received", "no_report_received", "window closed, no report"),
    ("late", "late", "final report after the window closed (counted above)"),
]


def format_audit(audit: CampaignAudit) -> str:
    width = max(len(label) for label, _, _ in FUNNEL_ROWS)
    heading = f"Campaign audit: project {audit.project_id!r}, campaign {audit.campaign_id!r}"
    if audit.as_of:
        heading += f", as of {audit.as_of.isoformat()}"
    lines = [heading, ""]
    lines += [f"{label:<{width}}  {audit.counts[key]:>7}  {note}"
              for label, key, note in FUNNEL_ROWS]
    lines.append(f"{'parts':<{width}}  {audit.parts:>7}  SMS parts billed")
    cost = ", ".join(f"{amount} {currency}" for currency, amount in audit.cost.items()) or "0"
    lines.append(f"{'cost':<{width}}  {cost:>7}  as reported by Infobip")
    if audit.drift:
        lines += ["", "DRIFT between the replay and the statistics projection:"]
        lines += [f"  {line}" for line in audit.drift]
    return "\n".join(lines)
