"""The campaign report page (`smsledger report`, GET .../campaigns/{campaign}/report) and
one message's timeline (`smsledger message`, the page's timeline section)."""

from smsledger.adapters.report.page import Search, render_report
from smsledger.adapters.report.timeline import TimelineRow, format_timeline, timeline_rows

__all__ = ["Search", "TimelineRow", "format_timeline", "render_report", "timeline_rows"]
